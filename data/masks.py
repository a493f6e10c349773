"""Defect masks on disk.

A mask file is an 8-bit single-channel PNG the size of its photo. By default it is a
bitmask: bit i of a pixel is set when defect class i of the taxonomy (`defects` task,
in file order) covers that pixel, so overlapping defects need no extra files. Bit 7
(`CUE_REGION_BIT`) is not a defect: it marks where a counterfeit's photo differs from its
genuine twin, the region its counterfeit cues show in (synthetic data records it). A
source whose masks are plain binary images of one class (MVTec AD) records that class
in the manifest's `mask_class` column instead; then any non-zero pixel is that class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from data.decode import decode_mask_image
from data.taxonomy import Taxonomy, load_taxonomy
from secondlook.errors import InputError

CUE_REGION_BIT = 7


def defect_classes(taxonomy: Taxonomy | None = None) -> tuple[str, ...]:
    classes = (taxonomy or load_taxonomy()).classes("defects")
    if len(classes) > CUE_REGION_BIT:
        raise ValueError(f"bitmask masks hold at most {CUE_REGION_BIT} defect classes (then the cue region)")
    return classes


def cue_region(packed: np.ndarray) -> np.ndarray:
    """(H, W) uint8 bitmask -> (H, W) booleans: where the photo's counterfeit cues show."""
    return ((np.asarray(packed, np.uint8) >> CUE_REGION_BIT) & 1).astype(bool)


def pack_bits(channels: np.ndarray) -> np.ndarray:
    """(C<=8, H, W) booleans, one channel per defect class -> (H, W) uint8 bitmask."""
    channels = np.asarray(channels, dtype=bool)
    if channels.ndim != 3 or channels.shape[0] > 8:
        raise ValueError(f"expected (C<=8, H, W) booleans, got shape {channels.shape}")
    packed = np.zeros(channels.shape[1:], np.uint8)
    for bit, channel in enumerate(channels):
        packed |= channel.astype(np.uint8) << bit
    return packed


def unpack_bits(packed: np.ndarray, classes: int) -> np.ndarray:
    """(H, W) uint8 bitmask -> (classes, H, W) booleans."""
    bits = np.arange(classes, dtype=np.uint8)
    return ((np.asarray(packed, np.uint8)[None] >> bits[:, None, None]) & 1).astype(bool)


def shrink_bitmask(packed: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A bitmask at a lower resolution (width, height) where a cell has a class's bit when any
    pixel it covers had it: a one-pixel scratch survives, where nearest-neighbour sampling
    would keep a random dotted fraction of it."""
    packed = np.asarray(packed, np.uint8)
    out = np.zeros((size[1], size[0]), np.uint8)
    for bit in range(8):
        layer = (packed >> bit) & 1
        if not layer.any():
            continue
        covered = np.asarray(Image.fromarray(layer * 255).resize(size, Image.Resampling.BOX)) > 0
        out |= covered.astype(np.uint8) << bit
    return out


def encode_bitmask(channels: np.ndarray) -> Image.Image:
    """(C, H, W) booleans, one channel per defect class -> an 8-bit bitmask PNG image."""
    return Image.fromarray(pack_bits(channels), mode="L")


def as_bitmask(
    image: Image.Image, mask_class: str | None = None, taxonomy: Taxonomy | None = None
) -> np.ndarray:
    """A mask image in either file format (bitmask, or binary of `mask_class`) -> (H, W) uint8 bitmask."""
    values = np.asarray(image.convert("L"))
    if mask_class is None:
        return values
    classes = defect_classes(taxonomy)
    if mask_class not in classes:
        raise InputError(f"mask_class {mask_class!r} is not a defect class ({', '.join(classes)})")
    return (values > 0).astype(np.uint8) << classes.index(mask_class)


def decode_mask(
    image: Image.Image, mask_class: str | None = None, taxonomy: Taxonomy | None = None
) -> np.ndarray:
    """A mask image -> (C, H, W) booleans over the taxonomy's defect classes."""
    classes = defect_classes(taxonomy)
    return unpack_bits(as_bitmask(image, mask_class, taxonomy), len(classes))


def load_bitmask(
    path: str | Path, mask_class: str | None = None, taxonomy: Taxonomy | None = None
) -> np.ndarray:
    return as_bitmask(decode_mask_image(path), mask_class, taxonomy)


def load_mask(
    path: str | Path, mask_class: str | None = None, taxonomy: Taxonomy | None = None
) -> np.ndarray:
    return decode_mask(decode_mask_image(path), mask_class, taxonomy)
