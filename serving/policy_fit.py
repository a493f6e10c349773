"""`secondlook policy fit`: reviewer thresholds from held-out data, to a target error rate.

Each reviewer's bundle scores every photo of the split; serving's aggregation turns them
into item scores. Each reviewer r decides when its confidence max(p, 1-p) reaches c_r
(AUTHENTIC at or below 1-c_r, COUNTERFEIT at or above c_r); an item is auto-decided when
all reviewers decide the same. The fit picks the (c_a, c_b, ...) that auto-decides the most
items while the error among them stays at or below the target, and records the data and
model versions it was fitted on. Torch-free: it runs what serving runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from data.decode import decode_image
from data.manifest import read_manifest, resolve_image_path
from serving.bundle import Bundle
from serving.evidence import item_scores
from serving.preprocess import preprocess
from serving.verdict import Policy, ReviewerThresholds

TABLE_CONFIDENCES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def score_items(bundle: Bundle, manifest: Path, split: str, batch_size: int = 16) -> pd.DataFrame:
    """item_id, label (1 counterfeit, 0 authentic) and the bundle's P(counterfeit) per labelled item."""
    frame = read_manifest(manifest)
    if split != "all":
        frame = frame[frame["split"] == split]
    frame = frame[frame["authenticity"].isin(["authentic", "counterfeit"])]
    if frame.empty:
        raise ValueError(f"{manifest}: no labelled items in split {split!r}")
    evidence: list[np.ndarray] = []
    paths = list(frame["image_path"])
    for start in range(0, len(paths), batch_size):
        batch = np.stack(
            [
                preprocess(decode_image(resolve_image_path(manifest, p)), bundle.spec)
                for p in paths[start : start + batch_size]
            ]
        )
        evidence.append(bundle.predict(batch).evidence)
    scores = item_scores(frame["item_id"].astype(str), np.concatenate(evidence))
    labels = frame.groupby("item_id")["authenticity"].first().eq("counterfeit").astype(int)
    return pd.DataFrame(
        {"item_id": list(scores), "label": [int(labels[i]) for i in scores], "p_counterfeit": list(scores.values())}
    )


def _decisions(p: np.ndarray, confidence: float) -> np.ndarray:
    """+1 counterfeit, 0 authentic, -1 undecided at this confidence."""
    out = np.full(p.shape, -1)
    out[p >= confidence] = 1
    out[p <= 1 - confidence] = 0
    return out


def auto_decided(scores: dict[str, np.ndarray], confidences: dict[str, float]) -> np.ndarray:
    """Per item: the agreed decision (0/1) where every reviewer decides the same, else -1."""
    decisions = np.stack([_decisions(scores[r], confidences[r]) for r in scores])
    agreed = (decisions == decisions[0]).all(axis=0) & (decisions[0] >= 0)
    return np.where(agreed, decisions[0], -1)


@dataclass(frozen=True)
class Fit:
    confidences: dict[str, float]
    coverage: float
    risk: float
    items: int
    table: pd.DataFrame


def fit_thresholds(scores: dict[str, np.ndarray], labels: np.ndarray, target_error: float) -> Fit:
    """Largest coverage with risk <= target_error over a grid of per-reviewer confidences."""
    names = list(scores)
    grid = {
        r: sorted({*TABLE_CONFIDENCES, *np.round(np.maximum(s, 1 - s), 6).tolist(), 1.0} - {0.0}) for r, s in scores.items()
    }
    grid = {r: [c for c in g if c >= 0.5] for r, g in grid.items()}
    best: tuple[float, float, tuple[float, ...]] | None = None
    for combo in itertools.product(*(grid[r] for r in names)):
        decided = auto_decided(scores, dict(zip(names, combo, strict=True)))
        covered = decided >= 0
        coverage = float(covered.mean())
        risk = float((decided[covered] != labels[covered]).mean()) if covered.any() else 0.0
        if risk > target_error:
            continue
        key = (coverage, -risk, combo)
        if best is None or key[:2] > best[:2] or (key[:2] == best[:2] and combo > best[2]):
            best = key
    assert best is not None  # confidence 1.0 for everyone decides nothing: risk 0 always qualifies
    coverage, negative_risk, combo = best
    rows = []
    for c in TABLE_CONFIDENCES:
        decided = auto_decided(scores, dict.fromkeys(names, c))
        covered = decided >= 0
        rows.append(
            {
                "confidence": c,
                "coverage": float(covered.mean()),
                "risk": float((decided[covered] != labels[covered]).mean()) if covered.any() else float("nan"),
                "auto_decided": int(covered.sum()),
            }
        )
    return Fit(dict(zip(names, combo, strict=True)), coverage, -negative_risk, len(labels), pd.DataFrame(rows))


def fitted_policy(
    policy: Policy,
    fit: Fit,
    bundles: dict[str, Bundle],
    manifest: Path,
    split: str,
    target_error: float,
) -> Policy:
    """The policy with fitted thresholds and a record of what they were fitted on."""
    reviewers = {}
    for name, c in fit.confidences.items():
        # c = 1.0 decides only on certain scores: keep authentic_at < counterfeit_at
        reviewers[name] = ReviewerThresholds(authentic_at=round(1 - c, 6), counterfeit_at=round(c, 6))
    fitted = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": {
            "manifest": str(manifest),
            "manifest_sha256": hashlib.sha256(Path(manifest).read_bytes()).hexdigest(),
            "split": split,
            "items": fit.items,
        },
        "models": {
            name: {
                "bundle": str(b.directory),
                "version": b.version,
                "graph_sha256": b.metadata["graph_sha256"],
                "mlflow_run_id": b.metadata.get("mlflow_run_id"),
            }
            for name, b in bundles.items()
        },
        "target_error": target_error,
        "coverage": fit.coverage,
        "risk": fit.risk,
    }
    return policy.model_copy(update={"reviewers": reviewers, "fitted": fitted})
