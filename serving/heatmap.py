"""Where the reviewers see counterfeit evidence on a photo: their class-activation maps,
calibrated and averaged, laid over the photo.

The maps come out of the same inference as the verdict (`ReviewerPanel.judge` asks the
bundles for them) at the models' resolution, a few hundred numbers per photo. The API renders
each photo's heatmap once, when the appraisal is made, at a bounded size (HEATMAP_MAX_SIDE),
stores it with the photos and serves the stored image: a heatmap request costs no decoding
and no model run, however large the photo. `evidence_overlay` runs the bundles on one photo
for the notebooks.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping

import numpy as np
from PIL import Image

from serving.bundle import Bundle
from serving.preprocess import preprocess
from serving.probabilities import sigmoid
from serving.tasks import EVIDENCE

HEATMAP_MAX_SIDE = 1024  # pixels of the stored heatmap's longer side; smaller photos keep theirs
HEATMAP_JPEG_QUALITY = 85


def evidence_grid(cams: Mapping[str, np.ndarray], temperatures: Mapping[str, float]) -> np.ndarray:
    """One photo's evidence logit map per reviewer (each (h, w), at that reviewer's resolution)
    -> the mean of their calibrated probabilities, on the finest of their grids, in 0..1."""
    side = max(max(c.shape) for c in cams.values())
    maps = []
    for name, cam in cams.items():
        calibrated = sigmoid(cam / temperatures.get(name, 1.0)).astype(np.float32)
        maps.append(np.asarray(Image.fromarray(calibrated).resize((side, side), Image.Resampling.BILINEAR)))
    return np.mean(maps, axis=0)


def overlay(image: Image.Image, heat: np.ndarray, max_side: int = HEATMAP_MAX_SIDE) -> Image.Image:
    """The photo, shrunk to at most `max_side` pixels, with the evidence map (any resolution,
    0..1) stretched over it in red (red: evidence)."""
    base = image.convert("RGB")
    if max(base.size) > max_side:
        base = base.copy()
        base.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    grid = Image.fromarray(np.asarray(heat, np.float32)).resize(base.size, Image.Resampling.BILINEAR)
    alpha = 0.5 * np.clip(np.asarray(grid), 0, 1)[..., None]
    pixels = np.asarray(base, np.float32)
    mixed = pixels * (1 - alpha) + np.array([255.0, 0.0, 0.0], np.float32) * alpha
    return Image.fromarray(np.clip(mixed, 0, 255).astype(np.uint8))


def heatmap_jpeg(image: Image.Image, heat: np.ndarray) -> bytes:
    """`overlay` encoded as the JPEG the API stores and serves."""
    buffer = io.BytesIO()
    overlay(image, heat).save(buffer, format="JPEG", quality=HEATMAP_JPEG_QUALITY)
    return buffer.getvalue()


def evidence_overlay(bundles: Iterable[Bundle], image: Image.Image) -> Image.Image:
    """Run the bundles on one photo and lay their evidence map over it (notebooks)."""
    cams, temperatures = {}, {}
    for number, bundle in enumerate(bundles):
        batch = np.stack([preprocess(image, bundle.spec)])
        cams[str(number)] = bundle.predict(batch, with_cams=True).cams[EVIDENCE][0, 0]
        temperatures[str(number)] = bundle.temperatures.get(EVIDENCE, 1.0)
    return overlay(image, evidence_grid(cams, temperatures))
