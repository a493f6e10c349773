"""`secondlook evaluate`: every metric of a trained reviewer on one split, as JSON, PNGs and Markdown.

Photo-level heads, item-level authenticity through serving's aggregation, calibration
(reliability diagrams), the item-level risk-coverage curve, condition, defect masks, and
an error table per counterfeit cue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from data.manifest import read_manifest, split_list
from data.taxonomy import load_taxonomy
from secondlook.errors import InputError
from serving.bundle import Bundle
from serving.bundle_metadata import BundleMetadata
from serving.condition import median_grade
from serving.evidence import item_scores
from serving.preprocess import PreprocessSpec
from serving.probabilities import ordinal_probabilities, sigmoid, softmax
from serving.tasks import (
    CATEGORY,
    CLASSIFICATION_TASKS,
    CUES,
    DEFECTS,
    EVIDENCE,
    HARDWARE_FINISH,
    HARDWARE_TYPE,
    ORDINAL_TASK,
    STAMP_TYPE,
    VIEW,
)
from training.agreement import ITEMS_FILE
from training.calibrate import evidence_ece, multiclass_ece
from training.checkpoint import CHECKPOINT_FORMAT_VERSION, load_weights, read_metadata, specialist_views
from training.config import ModelConfig
from training.data import ItemBatchSampler, PhotoDataset, restrict_to_views
from training.metrics import (
    accuracy,
    best_threshold_accuracy,
    binary_ece,
    item_frame,
    item_grade_logits_table,
    labelled_items,
    macro_f1,
    photo_presence,
)
from training.model import Reviewer, build_reviewer
from training.predict import MASK_TARGET, collect, gather

# The figure each head is judged by, in the order tables show them:
# (short key, what a reader sees, section of `compute_metrics`' result, field).
HEADLINE: tuple[tuple[str, str, str, str], ...] = (
    (VIEW, "view", VIEW, "accuracy"),
    (CATEGORY, "category (overall photos)", CATEGORY, "accuracy"),
    (HARDWARE_TYPE, "hardware type", HARDWARE_TYPE, "accuracy"),
    (HARDWARE_FINISH, "hardware finish", HARDWARE_FINISH, "accuracy"),
    (STAMP_TYPE, "stamp type", STAMP_TYPE, "accuracy"),
    ("condition", "condition grade, item exact", ORDINAL_TASK, "exact"),
    ("condition_within_one", "condition grade, item within one", ORDINAL_TASK, "within_one"),
    ("defects_auroc", "defects, pixel AUROC (mean of classes)", "defects_mean", "pixel_auroc"),
    (EVIDENCE, "counterfeit evidence, photo ROC-AUC", EVIDENCE, "roc_auc"),
    ("item_auc", "authenticity, item ROC-AUC", "authenticity_item", "roc_auc"),
)


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The one figure per head (see HEADLINE) from `compute_metrics`' result, by short key."""
    return {
        key: float(metrics.get(section, {}).get(field, float("nan"))) for key, _, section, field in HEADLINE
    }


def headline_keys() -> list[str]:
    return [key for key, _, _, _ in HEADLINE]


def headline_table(figures: dict[str, float], intervals: dict[str, Any] | None = None) -> str:
    """`headline`'s figures as a Markdown table, one row per head (with their 95% intervals)."""
    if not intervals:
        rows = ["| head | figure |", "|---|---|"]
        return "\n".join(rows + [f"| {label} | {figures[key]:.3f} |" for key, label, _, _ in HEADLINE])
    rows = ["| head | figure | 95% interval |", "|---|---|---|"]
    for key, label, _, _ in HEADLINE:
        low, high = intervals.get(key, (float("nan"), float("nan")))
        rows.append(f"| {label} | {figures[key]:.3f} | {low:.3f}–{high:.3f} |")
    return "\n".join(rows)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum formula (ties share ranks)."""
    labels = labels.astype(bool)
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def risk_coverage(probability: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    """Items sorted by confidence; error rate among the most confident fraction at each coverage."""
    confidence = np.maximum(probability, 1 - probability)
    order = np.argsort(-confidence, kind="stable")
    errors = ((probability[order] >= 0.5) != labels[order].astype(bool)).astype(float)
    covered = np.arange(1, len(order) + 1)
    return pd.DataFrame(
        {
            "coverage": covered / len(order),
            "risk": np.cumsum(errors) / covered,
            "threshold_confidence": confidence[order],
        }
    )


def load_reviewer(checkpoint: Path) -> tuple[Reviewer, dict[str, Any]]:
    metadata = read_metadata(checkpoint)
    taxonomy = load_taxonomy()
    if metadata["taxonomy"]["taxonomy_hash"] != taxonomy.content_hash:
        raise InputError(
            f"{checkpoint} was trained on taxonomy {metadata['taxonomy']['taxonomy_version']} "
            f"(hash {metadata['taxonomy']['taxonomy_hash'][:12]}), not the current one"
        )
    if metadata.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise InputError(
            f"{checkpoint}: checkpoint format {metadata.get('format_version')!r}; this secondlook reads "
            f"format {CHECKPOINT_FORMAT_VERSION}: retrain it"
        )
    # Older checkpoints lack the newer settings (their defaults) and may name retired ones.
    saved = {k: v for k, v in metadata["config"]["model"].items() if k in ModelConfig.model_fields}
    model = build_reviewer(ModelConfig(**{**saved, "backbone": metadata["backbone"]}), inference=True)
    model.load_state_dict(load_weights(checkpoint))
    model.eval()
    return model, metadata


@dataclass(frozen=True)
class EvaluatedModel:
    """What evaluation reads of the model it evaluates, a checkpoint or an exported bundle."""

    name: str
    backbone: str
    taxonomy_version: str
    mlflow_run_id: str | None
    temperatures: dict[str, float]
    preprocess: PreprocessSpec

    @classmethod
    def of_bundle(cls, metadata: BundleMetadata) -> EvaluatedModel:
        return cls(
            metadata.name,
            metadata.backbone,
            metadata.taxonomy.taxonomy_version,
            metadata.mlflow_run_id,
            dict(metadata.temperatures),
            metadata.preprocess,
        )

    @classmethod
    def of_checkpoint(cls, metadata: dict[str, Any]) -> EvaluatedModel:
        """From a checkpoint's metadata (`load_reviewer`'s second half)."""
        return cls(
            str(metadata["name"]),
            str(metadata["backbone"]),
            str(metadata["taxonomy"]["taxonomy_version"]),
            metadata.get("mlflow_run_id"),
            dict(metadata["temperatures"]),
            PreprocessSpec.from_dict(metadata["preprocess"]),
        )


def collect_bundle(bundle: Bundle, loader: DataLoader) -> dict[str, np.ndarray]:
    """`collect` for an exported bundle: the same keys, computed by onnxruntime."""
    return gather(loader, lambda batch: bundle.run(batch["image"].numpy()))


def predict_split(
    model_path: Path, manifest: Path, split: str, workers: int = 2
) -> tuple[dict[str, np.ndarray], PhotoDataset, EvaluatedModel]:
    """Predictions of a checkpoint (model.safetensors) or an exported bundle (folder or
    model.onnx) on one split, with the dataset and what evaluation reads of the model."""
    model_path = Path(model_path)
    bundle = Bundle(model_path) if model_path.is_dir() or model_path.suffix == ".onnx" else None
    views: list[str] | None = None  # a checkpoint's data.views; bundles are never specialists
    if bundle is not None:
        evaluated = EvaluatedModel.of_bundle(bundle.metadata)
    else:
        model, checkpoint_meta = load_reviewer(model_path)
        evaluated = EvaluatedModel.of_checkpoint(checkpoint_meta)
        views = specialist_views(checkpoint_meta)
    spec = evaluated.preprocess
    frame = read_manifest(manifest)
    if views:  # a view specialist is scored on the photos it was trained for
        frame = restrict_to_views(frame, views)
    if split != "all":
        frame = frame[frame["split"] == split]
    if frame.empty:
        raise InputError(f"{manifest}: no rows in split {split!r}")
    dataset = PhotoDataset(frame, manifest, spec, "none")
    loader = DataLoader(
        dataset, batch_sampler=ItemBatchSampler(dataset.targets.item_index, 8, False), num_workers=workers
    )
    if bundle is not None:
        predictions = collect_bundle(bundle, loader)
    else:
        predictions = collect(model, loader, torch.device("cpu"), channels_last=False)
    return predictions, dataset, evaluated


def evaluate(
    model_path: Path, manifest: Path, split: str, out_dir: Path, workers: int = 2, intervals: bool = False
) -> dict[str, Any]:
    """Metrics, report, plots and the item table of a checkpoint or bundle on one split; with
    `intervals`, each headline figure's 95% bootstrap interval over items (`training.intervals`)
    under the key "intervals"."""
    predictions, dataset, evaluated = predict_split(model_path, manifest, split, workers)
    metrics = compute_metrics(predictions, dataset, evaluated.temperatures)
    if intervals:
        from training.intervals import headline_intervals

        metrics["intervals"] = headline_intervals(predictions, dataset, evaluated.temperatures)
    write_report(metrics, predictions, dataset, evaluated, out_dir, split)
    item_table(predictions, dataset, evaluated.temperatures).to_csv(out_dir / ITEMS_FILE, index=False)
    return metrics


def item_table(
    predictions: dict[str, np.ndarray], dataset: PhotoDataset, temperatures: dict[str, float]
) -> pd.DataFrame:
    """One row per labelled item: its label (1 = counterfeit) and serving's aggregated score.

    This is what `secondlook compare` reads to measure how correlated two reviewers are.
    """
    evidence = sigmoid(predictions[EVIDENCE] / temperatures.get(EVIDENCE, 1.0))
    items = dataset.frame["item_id"].astype(str).to_numpy()
    return item_frame(item_scores(items, evidence), items, dataset.targets.item_label)


def compute_metrics(
    predictions: dict[str, np.ndarray], dataset: PhotoDataset, temperatures: dict[str, float]
) -> dict:
    t, taxonomy = dataset.targets, dataset.taxonomy
    metrics: dict[str, Any] = {"photos": len(dataset), "items": int(dataset.frame["item_id"].nunique())}
    for task in CLASSIFICATION_TASKS:
        temperature = temperatures.get(task, 1.0)
        predicted = softmax(predictions[task], temperature).argmax(1)
        metrics[task] = {
            "accuracy": accuracy(predicted, t.classes[task]),
            "macro_f1": macro_f1(predicted, t.classes[task], len(taxonomy.classes(task))),
            "ece": multiclass_ece(predictions[task], t.classes[task], temperature),
            "n": int((t.classes[task] >= 0).sum()),
        }
    metrics[ORDINAL_TASK] = condition_metrics(predictions, dataset, temperatures.get(ORDINAL_TASK, 1.0))
    evidence = sigmoid(predictions[EVIDENCE] / temperatures.get(EVIDENCE, 1.0))
    known = t.evidence >= 0
    metrics[EVIDENCE] = {
        "accuracy": accuracy((evidence >= 0.5).astype(np.int64), t.evidence),
        "roc_auc": roc_auc(evidence[known], t.evidence[known]),
        "ece": evidence_ece(predictions[EVIDENCE], t.evidence, temperatures.get(EVIDENCE, 1.0)),
        "n": int(known.sum()),
    }
    items = dataset.frame["item_id"].astype(str).to_numpy()
    scores = item_scores(items, evidence)
    item_prob, item_label = labelled_items(scores, items, t.item_label)
    labelled = len(item_prob) > 0
    metrics["authenticity_item"] = {
        "accuracy": float(((item_prob >= 0.5) == item_label.astype(bool)).mean())
        if labelled
        else float("nan"),
        "best_threshold_accuracy": best_threshold_accuracy(item_prob, item_label),
        "roc_auc": roc_auc(item_prob, item_label),
        "ece": binary_ece(item_prob, item_label) if labelled else float("nan"),
        "n": len(item_prob),
    }
    curve = risk_coverage(item_prob, item_label) if labelled else pd.DataFrame()
    metrics["risk_coverage"] = {
        f"coverage_at_risk_{r}": float(curve.loc[curve["risk"] <= r, "coverage"].max())
        if not curve.empty and (curve["risk"] <= r).any()
        else 0.0
        for r in (0.005, 0.01, 0.02, 0.05)
    }
    metrics[DEFECTS] = defect_metrics(predictions, dataset)
    aurocs = [v["pixel_auroc"] for v in metrics[DEFECTS].values() if not np.isnan(v["pixel_auroc"])]
    metrics["defects_mean"] = {"pixel_auroc": float(np.mean(aurocs)) if aurocs else float("nan")}
    metrics[CUES] = cue_table(dataset, evidence, scores, predictions.get(CUES))
    return metrics


def condition_metrics(predictions: dict[str, np.ndarray], dataset: PhotoDataset, temperature: float) -> dict:
    """Item grade (serving's aggregation of all the item's photos) against the item's grade."""
    logits, grades = item_grade_logits_table(predictions, dataset)
    if not len(grades):
        return {"exact": float("nan"), "within_one": float("nan"), "n": 0}
    predicted = median_grade(ordinal_probabilities(logits, temperature))
    return {
        "exact": float((predicted == grades).mean()),
        "within_one": float((np.abs(predicted - grades) <= 1).mean()),
        "n": len(grades),
    }


def defect_metrics(
    predictions: dict[str, np.ndarray], dataset: PhotoDataset, max_pixels: int = 400_000
) -> dict:
    """Per defect class, on photos whose masks are known: pixel AUROC and IoU (at 0.5), and the
    photo AUROC of "this photo shows it" scored by the map's strongest cell.

    The target masks are the ones `collect` gathered from the same batches: no second pass
    over the photos.
    """
    known = dataset.targets.mask_known
    classes = dataset.taxonomy.classes(DEFECTS)
    if not known.any():
        return {}
    targets = predictions[MASK_TARGET][known]
    probs = predictions[DEFECTS][known].astype(np.float32)
    strongest, shown = photo_presence(probs, targets)
    result = {}
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        p, y = probs[:, c].ravel(), targets[:, c].ravel() > 0.5
        if len(p) > max_pixels:
            pick = rng.choice(len(p), max_pixels, replace=False)
            p, y = p[pick], y[pick]
        predicted = probs[:, c] >= 0.5
        truth = targets[:, c] > 0.5
        union = np.logical_or(predicted, truth).sum()
        result[name] = {
            "pixel_auroc": roc_auc(p, y),
            "photo_auroc": roc_auc(strongest[:, c], shown[:, c]),
            "iou": float(np.logical_and(predicted, truth).sum() / union) if union else float("nan"),
            "positive_pixels": int(truth.sum()),
        }
    return result


CUE_FALSE_POSITIVE_RATE = 0.05  # the authentic share wrongly flagged at which cue recall is read


def recall_at_false_positive_rate(positive: np.ndarray, negative: np.ndarray, rate: float) -> float:
    """Share of `positive` scores above the threshold that flags at most `rate` of `negative`
    ones (the highest threshold with that property: ties with a negative do not count)."""
    if not len(positive) or not len(negative):
        return float("nan")
    allowed = int(np.floor(rate * len(negative)))
    ordered = np.sort(negative)[::-1]
    threshold = ordered[allowed] if allowed < len(ordered) else -np.inf
    return float((np.asarray(positive) > threshold).mean())


def cue_table(
    dataset: PhotoDataset,
    evidence: np.ndarray,
    scores: dict[str, float],
    cue_logits: np.ndarray | None = None,
) -> dict:
    """Per counterfeit cue: how often items carrying it, and photos showing it, are missed at
    0.5, and their recall at a 5% false-positive rate on authentic items and photos (a figure
    that does not depend on where calibration put 0.5). With the model's per-cue logits, also
    how well the cue's own head ranks the photos showing it above authentic photos of the views
    that can show it (`head_auroc`)."""
    frame = dataset.frame
    views = frame["view"].to_numpy()
    authentic = dataset.targets.item_label == 0
    item_prob, item_label = labelled_items(
        scores, frame["item_id"].astype(str).to_numpy(), dataset.targets.item_label
    )
    genuine_scores = item_prob[item_label == 0]
    genuine_photos = evidence[authentic]
    table: dict[str, dict[str, float]] = {}
    for index, cue in enumerate(dataset.taxonomy.cue_names):
        showing = dataset.targets.cue_labels[:, index] == 1
        carrying = (
            frame.loc[[cue in split_list(v) for v in frame["item_cues"]], "item_id"].astype(str).unique()
        )
        if len(carrying) == 0:
            continue
        carrying_scores = np.array([scores[i] for i in carrying])
        head_auroc = float("nan")
        if cue_logits is not None:
            negative = authentic & np.isin(views, dataset.taxonomy.cue(cue).visible_in)
            scored = showing | negative
            head_auroc = roc_auc(cue_logits[scored, index], showing[scored])
        table[cue] = {
            "items": len(carrying),
            "item_miss_rate": float(np.mean(carrying_scores < 0.5)),
            "item_recall_at_5pct_fpr": recall_at_false_positive_rate(
                carrying_scores, genuine_scores, CUE_FALSE_POSITIVE_RATE
            ),
            "photos_showing": int(showing.sum()),
            "photo_miss_rate": float((evidence[showing] < 0.5).mean()) if showing.any() else float("nan"),
            "photo_recall_at_5pct_fpr": recall_at_false_positive_rate(
                evidence[showing], genuine_photos, CUE_FALSE_POSITIVE_RATE
            ),
            "head_auroc": head_auroc,
        }
    return table


def write_report(
    metrics: dict, predictions: dict, dataset: PhotoDataset, model: EvaluatedModel, out_dir: Path, split: str
) -> None:
    from training.report import write_markdown_and_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    write_markdown_and_plots(metrics, predictions, dataset, model, out_dir, split)
