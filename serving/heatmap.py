"""Where the reviewers see counterfeit evidence on a photo: their class-activation maps,
calibrated and averaged, laid over the photo (the API's heatmap endpoint, the notebooks)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image

from serving.bundle import Bundle
from serving.preprocess import preprocess
from serving.probabilities import sigmoid


def evidence_map(bundles: Iterable[Bundle], image: Image.Image) -> np.ndarray:
    """(height, width) in 0..1 at the photo's size: the mean of each reviewer's evidence map."""
    maps = []
    for bundle in bundles:
        batch = np.stack([preprocess(image, bundle.spec)])
        cam = bundle.predict(batch, with_cams=True).cams["evidence"][0, 0]
        calibrated = sigmoid(cam / bundle.temperatures.get("evidence", 1.0)).astype(np.float32)
        maps.append(np.asarray(Image.fromarray(calibrated).resize(image.size)))
    return np.mean(maps, axis=0)


def evidence_overlay(bundles: Iterable[Bundle], image: Image.Image) -> Image.Image:
    """The photo with the evidence map laid over it in red (red: evidence)."""
    heat = evidence_map(bundles, image)[..., None]
    base = np.asarray(image.convert("RGB"), np.float32)
    overlay = base * (1 - 0.5 * heat) + np.array([255.0, 0, 0]) * (0.5 * heat)
    return Image.fromarray(np.clip(overlay, 0, 255).astype(np.uint8))
