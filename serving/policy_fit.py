"""`secondlook policy fit`: reviewer thresholds from held-out data, to a target error rate.

Each reviewer's bundle scores every photo of the split; serving's aggregation turns them
into item scores. Each reviewer r decides when its confidence max(p, 1-p) reaches c_r
(AUTHENTIC at or below 1-c_r, COUNTERFEIT at or above c_r); an item is auto-decided when
all reviewers decide the same. The fit picks the (c_a, c_b, ...) that auto-decides the most
items while the error among them stays at or below the target, and records the data and
model versions it was fitted on. The error is judged by its one-sided 95% Wilson upper
bound, not the raw rate: zero errors among 20 items does not prove a 0.5% error rate (it
takes about 540 error-free items), so a small validation set honestly fits thresholds that
auto-decide little or nothing. Torch-free: it runs what serving runs.
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
from secondlook.errors import InputError
from serving.bundle import Bundle
from serving.evidence import item_labels, item_scores
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
        raise InputError(f"{manifest}: no labelled items in split {split!r}")
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
    labels = item_labels(frame["item_id"], frame["authenticity"])
    return pd.DataFrame(
        {
            "item_id": list(scores),
            "label": [labels[i] for i in scores],
            "p_counterfeit": list(scores.values()),
        }
    )


def panel_scores(
    bundles: dict[str, Bundle], manifest: Path, split: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each reviewer's P(counterfeit) per labelled item, all in one item order, and the labels
    (1 counterfeit). Thresholds fitted on scores of different items would mean nothing."""
    tables = {name: score_items(bundle, manifest, split) for name, bundle in bundles.items()}
    first = next(iter(tables.values()))
    for name, table in tables.items():
        if list(table["item_id"]) != list(first["item_id"]):
            raise InputError(f"reviewer {name} scored other items than the others")
    return {name: t["p_counterfeit"].to_numpy() for name, t in tables.items()}, first["label"].to_numpy()


Z_95 = 1.6449  # one-sided 95%


def risk_upper_bound(errors: int, n: int, z: float = Z_95) -> float:
    """One-sided Wilson score upper bound of an error rate; 0 when nothing was decided."""
    if n == 0:
        return 0.0
    p = errors / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(min(1.0, (centre + spread) / (1 + z * z / n)))


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


def candidate_confidences(p: np.ndarray, levels: int = 60) -> list[float]:
    """Confidence thresholds worth trying for one reviewer: the table's, quantiles of its own
    confidences (so that the search stays small whatever the number of items), and 1."""
    confidence = np.maximum(p, 1 - p)
    quantiles = np.quantile(confidence, np.linspace(0, 1, levels)) if len(p) else []
    return sorted({*TABLE_CONFIDENCES, *np.round(quantiles, 6).tolist(), 1.0})


def risk_coverage_table(scores: dict[str, np.ndarray], labels: np.ndarray) -> pd.DataFrame:
    """Coverage and error among auto-decided items when every reviewer uses the same confidence."""
    rows = []
    for c in TABLE_CONFIDENCES:
        at_c = auto_decided(scores, dict.fromkeys(scores, c))
        decided = at_c >= 0
        wrong = int((at_c[decided] != labels[decided]).sum())
        n = int(decided.sum())
        rows.append(
            {
                "confidence": c,
                "coverage": n / len(labels),
                "risk": wrong / n if n else float("nan"),
                "risk_upper_95": risk_upper_bound(wrong, n),
                "auto_decided": n,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Fit:
    confidences: dict[str, float]
    coverage: float
    risk: float  # observed error rate among auto-decided items
    risk_bound: float  # its 95% upper bound, which the fit holds to the target
    items: int
    table: pd.DataFrame


def fit_thresholds(scores: dict[str, np.ndarray], labels: np.ndarray, target_error: float) -> Fit:
    """Largest coverage whose error bound is <= target_error, over per-reviewer confidences."""
    names = list(scores)
    grid = {r: candidate_confidences(s) for r, s in scores.items()}
    best: tuple[float, float, tuple[float, ...]] | None = None
    for combo in itertools.product(*(grid[r] for r in names)):
        decided = auto_decided(scores, dict(zip(names, combo, strict=True)))
        covered = decided >= 0
        errors = int((decided[covered] != labels[covered]).sum())
        bound = risk_upper_bound(errors, int(covered.sum()))
        if bound > target_error:
            continue
        key = (float(covered.mean()), -bound, combo)
        if best is None or key > best:
            best = key
    assert best is not None  # confidence 1.0 for everyone decides nothing: bound 0 always qualifies
    coverage, _, combo = best
    decided = auto_decided(scores, dict(zip(names, combo, strict=True)))
    covered = decided >= 0
    errors = int((decided[covered] != labels[covered]).sum())
    risk = errors / int(covered.sum()) if covered.any() else 0.0
    return Fit(
        dict(zip(names, combo, strict=True)),
        coverage,
        risk,
        risk_upper_bound(errors, int(covered.sum())),
        len(labels),
        risk_coverage_table(scores, labels),
    )


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
                "graph_sha256": b.metadata.graph_sha256,
                "mlflow_run_id": b.metadata.mlflow_run_id,
            }
            for name, b in bundles.items()
        },
        "target_error": target_error,
        "coverage": fit.coverage,
        "risk": fit.risk,
        "risk_upper_95": fit.risk_bound,
    }
    return policy.model_copy(update={"reviewers": reviewers, "fitted": fitted})
