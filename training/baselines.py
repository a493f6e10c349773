"""Trivial reviewers that every trained one must clearly beat on the same held-out items.

`majority_baselines` always answers the training split's most common class; `pixel_baselines`
is a logistic regression on 32x32 colour pixels. Both report the headline keys of
`training.evaluate.headline` so that they sit beside a reviewer's figures in a card or a test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from data.atomic import atomic_write_text
from data.manifest import read_manifest, resolve_image_path
from data.taxonomy import load_taxonomy
from serving.tasks import CLASSIFICATION_TASKS
from training.targets import Targets, build_targets

PIXELS = 32  # a side of the thumbnail the pixel baseline reads


def _rows(manifest: Path, split: str, max_items: int | None, seed: int) -> pd.DataFrame:
    frame = read_manifest(manifest)
    frame = frame[frame["split"] == split].reset_index(drop=True)
    if max_items is not None and frame["item_id"].nunique() > max_items:
        items = frame["item_id"].drop_duplicates().sample(max_items, random_state=seed)
        frame = frame[frame["item_id"].isin(set(items))].reset_index(drop=True)
    return frame


def _item_grades(targets: Targets) -> pd.Series:
    """An item's grade is its worst photo's (the manifest gives it on the overall photo)."""
    return pd.Series(targets.condition).groupby(targets.item_index).max()


def majority_baselines(
    train_manifest: Path, heldout_manifest: Path, heldout_split: str = "test"
) -> dict[str, float]:
    """The reviewer that always answers the training split's most common class (the most common
    item grade for condition; a constant score for the AUCs), on the held-out items."""
    taxonomy = load_taxonomy()
    fitted = build_targets(_rows(train_manifest, "train", None, 0), taxonomy)
    scored = build_targets(_rows(heldout_manifest, heldout_split, None, 0), taxonomy)
    figures = {}
    for task in CLASSIFICATION_TASKS:
        known = fitted.classes[task][fitted.classes[task] >= 0]
        labels = scored.classes[task][scored.classes[task] >= 0]
        figures[task] = float((labels == np.bincount(known).argmax()).mean())
    train_grades, grades = _item_grades(fitted), _item_grades(scored)
    best = train_grades[train_grades >= 0].mode().iloc[0]
    grades = grades[grades >= 0].to_numpy()
    figures["condition"] = float((grades == best).mean())
    figures["condition_within_one"] = float((np.abs(grades - best) <= 1).mean())
    figures.update({key: 0.5 for key in ("defects_auroc", "evidence", "item_auc")})
    return figures


def thumbnails(manifest: Path, frame: pd.DataFrame) -> np.ndarray:
    """(photos, 32*32*3) float32 pixels of each row's photo."""
    return np.stack(
        [
            np.asarray(
                Image.open(resolve_image_path(manifest, path)).convert("RGB").resize((PIXELS, PIXELS)),
                np.float32,
            ).ravel()
            for path in frame["image_path"]
        ]
    )


def _fit(
    pixels: np.ndarray, labels: np.ndarray, strength: float
) -> tuple[StandardScaler, LogisticRegression]:
    scaler = StandardScaler().fit(pixels)
    # One BLAS thread: beside a training run, spinning BLAS threads made a fit 25 times slower.
    with threadpool_limits(limits=1):
        model = LogisticRegression(C=strength, max_iter=3000).fit(scaler.transform(pixels), labels)
    return scaler, model


def pixel_baselines(
    train_manifest: Path,
    heldout_manifest: Path,
    heldout_split: str = "test",
    max_train_items: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """A logistic regression on 32x32 colour pixels, fitted on the training split's photos (at
    most `max_train_items` items, drawn at random) and scored on the held-out split: recognition
    accuracy per photo; condition item exact and within one (each photo's predicted grade, an
    item's worst); counterfeit evidence per photo and authenticity per item (an item scored by
    its most suspicious photo) as ROC-AUC. No defect map: pixels give none."""
    taxonomy = load_taxonomy()
    train_rows = _rows(train_manifest, "train", max_train_items, seed)
    test_rows = _rows(heldout_manifest, heldout_split, None, seed)
    fitted, scored = build_targets(train_rows, taxonomy), build_targets(test_rows, taxonomy)
    train_pixels = thumbnails(train_manifest, train_rows)
    test_pixels = thumbnails(heldout_manifest, test_rows)
    figures: dict[str, float] = {}
    for task in CLASSIFICATION_TASKS:
        fit, score = fitted.classes[task] >= 0, scored.classes[task] >= 0
        scaler, model = _fit(train_pixels[fit], fitted.classes[task][fit], 0.1)
        figures[task] = float(model.score(scaler.transform(test_pixels[score]), scored.classes[task][score]))
    fit = fitted.condition >= 0
    scaler, model = _fit(train_pixels[fit], fitted.condition[fit], 0.001)  # README: C that did best
    predicted = np.full(len(test_rows), -1)
    score = scored.condition >= 0
    predicted[score] = model.predict(scaler.transform(test_pixels[score]))
    both = pd.DataFrame({"item": scored.item_index, "true": scored.condition, "predicted": predicted})
    both = both[both["true"] >= 0].groupby("item")[["true", "predicted"]].max()
    figures["condition"] = float((both["true"] == both["predicted"]).mean())
    figures["condition_within_one"] = float(((both["true"] - both["predicted"]).abs() <= 1).mean())
    fit, score = fitted.evidence >= 0, scored.evidence >= 0
    scaler, model = _fit(train_pixels[fit], fitted.evidence[fit], 0.01)
    suspicion = model.predict_proba(scaler.transform(test_pixels))[:, 1]
    figures["evidence"] = float(roc_auc_score(scored.evidence[score], suspicion[score]))
    items = pd.DataFrame({"item": scored.item_index, "label": scored.item_label, "score": suspicion})
    items = items[items["label"] >= 0].groupby("item").agg(label=("label", "max"), score=("score", "max"))
    figures["item_auc"] = float(roc_auc_score(items["label"], items["score"]))
    return figures


def main() -> None:
    """`python -m training.baselines`: both trivial reviewers' figures as JSON (scripts/champions)."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Trivial reviewers' figures on held-out items.")
    parser.add_argument("--train-manifest", type=Path, required=True)
    parser.add_argument("--heldout-manifest", type=Path, required=True)
    parser.add_argument("--max-train-items", type=int, default=3000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    figures = {
        "majority_class": majority_baselines(args.train_manifest, args.heldout_manifest),
        "pixels": pixel_baselines(
            args.train_manifest, args.heldout_manifest, max_train_items=args.max_train_items
        ),
        "pixels_train_items": int(
            _rows(args.train_manifest, "train", args.max_train_items, 0)["item_id"].nunique()
        ),
    }
    atomic_write_text(args.out, json.dumps(figures, indent=1) + "\n")
    print(f"baselines: {args.out}")


if __name__ == "__main__":
    main()
