"""Defect masks on disk.

A mask file is an 8-bit single-channel PNG the size of its photo. By default it is a
bitmask: bit i of a pixel is set when defect class i of the taxonomy (`defects` task,
in file order) covers that pixel, so overlapping defects need no extra files. A
source whose masks are plain binary images of one class (MVTec AD) records that class
in the manifest's `mask_class` column instead; then any non-zero pixel is that class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data.taxonomy import Taxonomy, load_taxonomy


def defect_classes(taxonomy: Taxonomy | None = None) -> tuple[str, ...]:
    classes = (taxonomy or load_taxonomy()).classes("defects")
    if len(classes) > 8:
        raise ValueError("bitmask masks hold at most 8 defect classes")
    return classes


def encode_bitmask(channels: np.ndarray) -> Image.Image:
    """(C, H, W) booleans, one channel per defect class -> an 8-bit bitmask PNG image."""
    channels = np.asarray(channels, dtype=bool)
    if channels.ndim != 3 or channels.shape[0] > 8:
        raise ValueError(f"expected (C<=8, H, W) booleans, got shape {channels.shape}")
    packed = np.zeros(channels.shape[1:], np.uint8)
    for bit, channel in enumerate(channels):
        packed |= channel.astype(np.uint8) << bit
    return Image.fromarray(packed, mode="L")


def decode_mask(
    image: Image.Image, mask_class: str | None = None, taxonomy: Taxonomy | None = None
) -> np.ndarray:
    """A mask image -> (C, H, W) booleans over the taxonomy's defect classes."""
    classes = defect_classes(taxonomy)
    values = np.asarray(image.convert("L"))
    if mask_class is not None:
        if mask_class not in classes:
            raise ValueError(f"mask_class {mask_class!r} is not a defect class ({', '.join(classes)})")
        channels = np.zeros((len(classes), *values.shape), dtype=bool)
        channels[classes.index(mask_class)] = values > 0
        return channels
    bits = np.arange(len(classes), dtype=np.uint8)
    return ((values[None, :, :] >> bits[:, None, None]) & 1).astype(bool)


def load_mask(
    path: str | Path, mask_class: str | None = None, taxonomy: Taxonomy | None = None
) -> np.ndarray:
    with Image.open(path) as image:
        return decode_mask(image, mask_class, taxonomy)
