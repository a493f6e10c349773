"""Albumentations pipelines applied to decoded photos (and their defect bitmasks) before
the shared preprocess. No flips: a mirrored stamp is not a photo anyone will upload, and
letter shapes carry counterfeit cues.
"""

from __future__ import annotations

import albumentations as A
import cv2


def build_augment(level: str) -> A.Compose | None:
    """`none`, `light` or `standard`; geometric transforms move the mask with the photo."""
    if level == "none":
        return None
    strength = 1.0 if level == "standard" else 0.5
    return A.Compose(
        [
            A.Affine(
                scale=(1 - 0.12 * strength, 1 + 0.12 * strength),
                rotate=(-8 * strength, 8 * strength),
                translate_percent=(-0.06 * strength, 0.06 * strength),
                border_mode=cv2.BORDER_REFLECT_101,
                p=0.8,
            ),
            A.ColorJitter(
                brightness=0.2 * strength, contrast=0.2 * strength, saturation=0.2 * strength, hue=0.02, p=0.8
            ),
            A.OneOf(
                [A.GaussianBlur(blur_limit=(3, 5)), A.GaussNoise(std_range=(0.01, 0.04))], p=0.3 * strength
            ),
            A.ImageCompression(quality_range=(60, 95), p=0.3 * strength),
        ],
        seed=0,
    )
