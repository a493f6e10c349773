"""From decoded photos to an appraisal: both reviewers, findings per photo, the verdict.

One code path for the API, `secondlook appraise` and batch re-scoring (`secondlook rescore`): decode ->
quality gate -> each reviewer's bundle on its own preprocess -> per-photo findings (labels
averaged over the reviewers) -> each reviewer's item score through serving's aggregation ->
`verdict.decide`. Torch-free; onnxruntime sessions are opened once and shared.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from data.taxonomy import Taxonomy, load_taxonomy
from secondlook.errors import InputError
from serving.bundle import DEFECT_THRESHOLD, Bundle, Predictions
from serving.condition import item_grade_probabilities, median_grade
from serving.evidence import item_counterfeit_probability
from serving.heatmap import evidence_grid
from serving.preprocess import PreprocessSpec, preprocess_batch
from serving.quality import QualityReport, QualityThresholds, assess_quality
from serving.tasks import (
    CATEGORY,
    DEFECTS,
    EVIDENCE,
    HARDWARE_FINISH,
    HARDWARE_TYPE,
    ORDINAL_TASK,
    STAMP_TYPE,
    VIEW,
    VISIBLE_IN,
)
from serving.verdict import PhotoAssessment, Policy, Verdict, decide, seen_view

PHOTO_TASKS = (CATEGORY, HARDWARE_TYPE, HARDWARE_FINISH, STAMP_TYPE)


def shows(taxonomy: Taxonomy, task: str, view: str) -> bool:
    """Whether a photo of this view shows the task's label (see `serving.tasks.VISIBLE_IN`)."""
    return taxonomy.applies(task, view) and view in VISIBLE_IN.get(task, (view,))


@dataclass
class PhotoFindings:
    index: int
    view: str
    view_given: bool
    view_confidence: float
    labels: dict[str, dict[str, Any]]  # task -> {"label", "confidence"}, only where it applies
    evidence: dict[str, float]  # reviewer -> P(photo shows a counterfeit cue)
    defects: list[dict[str, Any]]  # {"class", "score", "box" [x0, y0, x1, y1] in 0..1, "area_share"}
    quality: QualityReport
    # Where the reviewers see evidence (serving.heatmap.evidence_grid): (h, w) in 0..1 at the
    # models' resolution; None for bundles exported without the map.
    evidence_map: np.ndarray | None = None


@dataclass
class PanelResult:
    verdict: Verdict
    item_scores: dict[str, float]
    photos: list[PhotoFindings]
    condition: dict[str, Any]
    models: dict[str, dict[str, str]]
    timings_ms: dict[str, float] = field(default_factory=dict)


def mean_masks(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Average (N, D, h, w) mask probabilities of several reviewers, each first brought to the
    finest of their resolutions (reviewers may see photos at different input sizes)."""
    height = max(m.shape[-2] for m in masks)
    width = max(m.shape[-1] for m in masks)
    resized = [m if m.shape[-2:] == (height, width) else _resize_maps(m, (width, height)) for m in masks]
    return np.mean(resized, axis=0)


def _resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, D, h, w) float maps -> (N, D, height, width), bilinear, one map at a time with PIL."""
    flat = maps.reshape(-1, *maps.shape[-2:]).astype(np.float32)
    out = [np.asarray(Image.fromarray(m, mode="F").resize(size, Image.Resampling.BILINEAR)) for m in flat]
    return np.stack(out).reshape(*maps.shape[:-2], size[1], size[0])


def defect_findings(
    masks: np.ndarray, classes: Sequence[str], thresholds: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Per defect class with any pixel at or above its threshold (the bundles' fitted ones, else
    DEFECT_THRESHOLD): its box and area share."""
    found = []
    for c, name in enumerate(classes):
        mask = masks[c] >= (thresholds or {}).get(name, DEFECT_THRESHOLD)
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        h, w = mask.shape
        found.append(
            {
                "class": name,
                "score": float(masks[c].max()),
                "box": [xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h],
                "area_share": float(mask.mean()),
            }
        )
    return found


def with_total_ms(appraisal: PanelResult, started: float) -> PanelResult:
    """The appraisal with `total_ms`: the time since `started` (a perf_counter reading)."""
    appraisal.timings_ms = {**appraisal.timings_ms, "total_ms": 1000 * (time.perf_counter() - started)}
    return appraisal


@dataclass
class PreparedPhotos:
    """An item's photos made ready for the reviewers: what can run away from the models.

    Plain arrays and dataclasses, so worker processes can prepare items (decode, quality
    gate, preprocessing) while the process holding the onnxruntime sessions infers."""

    tensors: dict[str, np.ndarray]  # reviewer -> (N, 3, size, size) float32, its own preprocess
    quality: list[QualityReport]

    def __len__(self) -> int:
        return len(self.quality)


@dataclass(frozen=True)
class Preparer:
    """Preprocessing and the quality gate of a panel, without its sessions (picklable)."""

    specs: dict[str, PreprocessSpec]  # reviewer -> its bundle's preprocess spec
    quality_limits: QualityThresholds

    def prepare(self, images: Sequence[Image.Image]) -> PreparedPhotos:
        tensors: dict[str, np.ndarray] = {}
        done: dict[PreprocessSpec, np.ndarray] = {}
        for name, spec in self.specs.items():  # reviewers sharing a spec share the work
            if spec not in done:
                done[spec] = preprocess_batch(list(images), spec)
            tensors[name] = done[spec]
        return PreparedPhotos(tensors, [assess_quality(image, self.quality_limits) for image in images])


@dataclass(frozen=True)
class ItemRequest:
    """One item to judge: its prepared photos and what the client told us about it."""

    photos: PreparedPhotos
    views: Sequence[str | None]
    declared_value: float | None = None
    category: str | None = None


class ReviewerPanel:
    """The reviewers named in the policy, each with its bundle, ready to appraise."""

    def __init__(self, bundles: dict[str, Bundle], policy: Policy, taxonomy: Taxonomy | None = None) -> None:
        missing = set(policy.reviewers) - set(bundles)
        if missing:
            raise InputError(f"no bundle for reviewer(s) {', '.join(sorted(missing))} named in the policy")
        self.bundles = {name: bundles[name] for name in policy.reviewers}
        self.policy = policy
        self.taxonomy = taxonomy or load_taxonomy()
        # Each defect class's threshold on the averaged masks: the mean of the reviewers' own.
        self.defect_thresholds = {
            name: float(
                np.mean([b.defect_thresholds.get(name, DEFECT_THRESHOLD) for b in self.bundles.values()])
            )
            for name in self.taxonomy.classes(DEFECTS)
        }
        self.quality_limits = policy.quality.thresholds()
        self.preparer = Preparer({n: b.spec for n, b in self.bundles.items()}, self.quality_limits)

    @property
    def models(self) -> dict[str, dict[str, str]]:
        return {
            name: {"name": b.name, "version": b.version, "graph_sha256": b.metadata.graph_sha256}
            for name, b in self.bundles.items()
        }

    def request(
        self,
        images: Sequence[Image.Image],
        views: Sequence[str | None],
        declared_value: float | None = None,
        category: str | None = None,
    ) -> ItemRequest:
        """An item made ready to judge: its photos prepared for each reviewer, quality assessed."""
        return ItemRequest(self.preparer.prepare(images), views, declared_value, category)

    def appraise(
        self,
        images: Sequence[Image.Image],
        views: Sequence[str | None],
        declared_value: float | None = None,
        category: str | None = None,
    ) -> PanelResult:
        started = time.perf_counter()
        (appraisal,) = self.judge([self.request(images, views, declared_value, category)])
        return with_total_ms(appraisal, started)

    def judge(self, items: Sequence[ItemRequest], max_batch: int = 64) -> list[PanelResult]:
        """Appraise prepared items: their photos go through each reviewer in shared batches
        of at most `max_batch` photos, then each item gets its findings and verdict."""
        started = time.perf_counter()
        predictions = {}
        for name, bundle in self.bundles.items():
            batch = np.concatenate([item.photos.tensors[name] for item in items])
            predictions[name] = _predict_in_batches(bundle, batch, max_batch)
        inference_ms = 1000 * (time.perf_counter() - started)
        photos_total = sum(len(i.photos) for i in items)
        appraisals, offset = [], 0
        for item in items:
            rows = slice(offset, offset + len(item.photos))
            offset = rows.stop
            share = inference_ms * len(item.photos) / max(photos_total, 1)  # this item's share
            appraisals.append(self._findings(item, {n: p.rows(rows) for n, p in predictions.items()}, share))
        return appraisals

    def _findings(
        self, item: ItemRequest, predictions: dict[str, Predictions], inference_ms: float
    ) -> PanelResult:
        started = time.perf_counter()
        taxonomy = self.taxonomy
        view_classes = taxonomy.classes(VIEW)
        mean = {
            task: np.mean([p.probabilities[task] for p in predictions.values()], axis=0)
            for task in (VIEW, *PHOTO_TASKS)
        }
        masks = mean_masks([p.defects for p in predictions.values()])
        photos: list[PhotoFindings] = []
        assessments: list[PhotoAssessment] = []
        views = item.views
        for i, quality in enumerate(item.photos.quality):
            given = views[i] if i < len(views) else None
            predicted = int(mean[VIEW][i].argmax())
            predicted_confidence = float(mean[VIEW][i][predicted])
            view = given or view_classes[predicted]
            confidence = float(mean[VIEW][i][view_classes.index(view)])
            labels = {}
            for task in PHOTO_TASKS:
                if shows(taxonomy, task, view):
                    k = int(mean[task][i].argmax())
                    labels[task] = {"label": taxonomy.classes(task)[k], "confidence": float(mean[task][i][k])}
            evidence = {name: float(p.evidence[i]) for name, p in predictions.items()}
            photos.append(
                PhotoFindings(
                    i + 1,
                    view,
                    given is not None,
                    confidence,
                    labels,
                    evidence,
                    defect_findings(masks[i], taxonomy.classes(DEFECTS), self.defect_thresholds),
                    quality,
                    self._evidence_map(predictions, i),
                )
            )
            assessments.append(
                PhotoAssessment(
                    i + 1,
                    view,
                    given is not None,
                    confidence,
                    quality,
                    evidence,
                    view_classes[predicted],
                    predicted_confidence,
                )
            )
        item_scores = {name: item_counterfeit_probability(p.evidence) for name, p in predictions.items()}
        verdict = decide(
            assessments,
            item_scores,
            self.policy,
            item.declared_value,
            item.category,
            self._seen_category(mean[CATEGORY], assessments),
        )
        findings_ms = 1000 * (time.perf_counter() - started)
        return PanelResult(
            verdict,
            item_scores,
            photos,
            condition_report(self._item_grade(predictions), photos, taxonomy),
            self.models,
            {"inference_ms": inference_ms, "total_ms": inference_ms + findings_ms},
        )

    def _seen_category(
        self, probabilities: np.ndarray, assessments: list[PhotoAssessment]
    ) -> tuple[str, float] | None:
        """The category the reviewers see on the photos they see as overall views (the only view
        that shows it), with its mean probability; None without such a photo."""
        rows = [a.index - 1 for a in assessments if seen_view(a, self.policy) in VISIBLE_IN[CATEGORY]]
        if not rows:
            return None
        mean = probabilities[rows].mean(axis=0)
        best = int(mean.argmax())
        return self.taxonomy.classes(CATEGORY)[best], float(mean[best])

    def _evidence_map(self, predictions: dict[str, Predictions], row: int) -> np.ndarray | None:
        if not all(EVIDENCE in p.cams for p in predictions.values()):
            return None
        return evidence_grid(
            {name: p.cams[EVIDENCE][row, 0] for name, p in predictions.items()},
            {name: self.bundles[name].temperatures.get(EVIDENCE, 1.0) for name in predictions},
        )

    def _item_grade(self, predictions: dict[str, Predictions]) -> np.ndarray:
        """The item's grade probabilities: each reviewer's aggregation of its photos, averaged."""
        return np.mean(
            [
                item_grade_probabilities(
                    p.grade_logits, self.bundles[name].temperatures.get(ORDINAL_TASK, 1.0)
                )
                for name, p in predictions.items()
            ],
            axis=0,
        )


def _predict_in_batches(bundle: Bundle, batch: np.ndarray, max_batch: int) -> Predictions:
    """Predictions with the evidence maps: one more output of the same run, a few hundred
    numbers per photo."""
    parts = [
        bundle.predict(batch[i : i + max_batch], with_cams=True) for i in range(0, len(batch), max_batch)
    ]
    return parts[0] if len(parts) == 1 else Predictions.concatenate(parts)


def condition_report(
    grade_probabilities: np.ndarray, photos: list[PhotoFindings], taxonomy: Taxonomy
) -> dict:
    """The item's grade (its (K,) probabilities, see `serving.condition`) and its defects by class."""
    k = int(median_grade(grade_probabilities))
    defects: dict[str, list[int]] = {}
    for photo in photos:
        for finding in photo.defects:
            defects.setdefault(finding["class"], []).append(photo.index)
    return {
        "grade": taxonomy.classes(ORDINAL_TASK)[k],
        "confidence": float(grade_probabilities[k]),
        "defects": [{"class": c, "photos": p} for c, p in sorted(defects.items())],
    }
