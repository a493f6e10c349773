"""THE preprocessing: decoded photo -> normalised float32 tensor, in numpy and PIL only.

Serving, batch re-scoring, evaluation of exported bundles and training's final step all
call `preprocess` with the `PreprocessSpec` stored in the model bundle, so a model never
sees pixels prepared differently from the ones it was trained on. Augmentation happens
before this step, on the decoded image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any, cast

import numpy as np
from PIL import Image

from secondlook.errors import InputError


class ResizeMode(str, Enum):
    squash = "squash"  # resize both sides to `size`, ignoring the aspect ratio
    center_crop = "center_crop"  # shorter side to `size`, then the central square


def _three(values: Any) -> tuple[float, float, float]:
    """A per-channel (R, G, B) triple from metadata; `__post_init__` refuses any other length."""
    return cast("tuple[float, float, float]", tuple(float(v) for v in values))


@dataclass(frozen=True)
class PreprocessSpec:
    """Everything needed to turn an RGB photo into model input; travels inside every bundle."""

    size: int = 224
    resize: ResizeMode = ResizeMode.squash
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    channel_order: str = "RGB"
    layout: str = "NCHW"

    def __post_init__(self) -> None:
        if self.size < 16:
            raise InputError(f"preprocess size must be at least 16, got {self.size}")
        object.__setattr__(self, "resize", ResizeMode(self.resize))
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise InputError("preprocess mean and std need three values, std positive")
        if self.channel_order != "RGB" or self.layout != "NCHW":
            raise InputError("only RGB channel order and NCHW layout are supported")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["resize"] = self.resize.value
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        return cls(
            size=int(data["size"]),
            resize=ResizeMode(data["resize"]),
            mean=_three(data["mean"]),
            std=_three(data["std"]),
            channel_order=str(data.get("channel_order", "RGB")),
            layout=str(data.get("layout", "NCHW")),
        )


def resize(image: Image.Image, spec: PreprocessSpec) -> Image.Image:
    """The geometric half of preprocessing (bilinear, antialiased)."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    if spec.resize is ResizeMode.squash:
        return image.resize((spec.size, spec.size), Image.Resampling.BILINEAR)
    width, height = image.size
    scale = spec.size / min(width, height)
    new_w, new_h = max(spec.size, round(width * scale)), max(spec.size, round(height * scale))
    image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - spec.size) // 2, (new_h - spec.size) // 2
    return image.crop((left, top, left + spec.size, top + spec.size))


def normalise(pixels: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """(H, W, 3) uint8 -> (3, H, W) float32, scaled to [0, 1] then standardised."""
    array = pixels.astype(np.float32) * np.float32(1 / 255)
    array -= np.asarray(spec.mean, np.float32)
    array /= np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def preprocess(image: Image.Image | np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """A decoded RGB photo (PIL image or HxWx3 uint8 array) -> (3, size, size) float32."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image, mode="RGB")
    return normalise(np.asarray(resize(image, spec)), spec)


def preprocess_batch(images: list[Image.Image | np.ndarray], spec: PreprocessSpec) -> np.ndarray:
    return np.stack([preprocess(image, spec) for image in images])
