"""Photo-quality gate: is this photo good enough to judge? (resolution, focus, exposure)

Pure numpy on an already decoded RGB image; the thresholds come from the verdict policy
(`configs/verdict.yaml`, section `quality`). Each failed check becomes a sentence an
appraiser can act on ("retake it in focus"), not a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

ANALYSIS_SIDE = 512  # measure focus and exposure on a reduced copy: cheap and size-independent


@dataclass(frozen=True)
class QualityThresholds:
    min_side_px: int = 256
    min_sharpness: float = 3.0  # variance of the Laplacian of the 8-bit grey image
    min_brightness: float = 0.06  # mean grey level, 0..1
    max_brightness: float = 0.95
    max_clipped_share: float = 0.5  # share of pixels crushed to black or blown to white


@dataclass(frozen=True)
class QualityReport:
    width: int
    height: int
    sharpness: float
    brightness: float
    clipped_share: float
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def _grey(image: Image.Image) -> np.ndarray:
    reduced = image.copy()
    reduced.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    return np.asarray(reduced.convert("L"), np.float32)


def assess_quality(image: Image.Image, limits: QualityThresholds) -> QualityReport:
    width, height = image.size
    grey = _grey(image)
    if min(grey.shape) >= 3:
        laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
        sharpness = float(laplacian.var())
    else:
        sharpness = 0.0
    brightness = float(grey.mean() / 255.0)
    clipped = float(((grey <= 5) | (grey >= 250)).mean())
    problems = []
    if min(width, height) < limits.min_side_px:
        problems.append(
            f"too small ({width}x{height} px): retake it so that the shorter side has at least "
            f"{limits.min_side_px} px"
        )
    if sharpness < limits.min_sharpness:
        problems.append("out of focus: retake it with the item in focus")
    if brightness < limits.min_brightness:
        problems.append("too dark: retake it with more light")
    elif brightness > limits.max_brightness:
        problems.append("too bright: retake it with less light or without flash")
    if clipped > limits.max_clipped_share:
        problems.append("large areas are pure black or white: retake it in even light")
    return QualityReport(width, height, sharpness, brightness, clipped, tuple(problems))
