"""Plots and the Markdown report of `secondlook evaluate` (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from serving.evidence import item_scores
from serving.probabilities import sigmoid, softmax
from serving.tasks import CLASSIFICATION_TASKS, CUES, DEFECTS, EVIDENCE, ORDINAL_TASK
from training.metrics import labelled_items

if TYPE_CHECKING:
    from training.evaluate import EvaluatedModel


def confusion_png(
    path: Path, predicted: np.ndarray, target: np.ndarray, classes: tuple[str, ...], title: str
) -> None:
    known = target >= 0
    matrix = np.zeros((len(classes), len(classes)), int)
    np.add.at(matrix, (target[known], predicted[known]), 1)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(classes), 1.0 + 0.6 * len(classes)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j, i, str(value), ha="center", va="center", color="white" if value > matrix.max() / 2 else "black"
        )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability_png(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], bins: int = 10) -> None:
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    edges = np.linspace(0, 1, bins + 1)
    for name, (probability, label) in curves.items():
        index = np.clip(np.digitize(probability, edges[1:-1]), 0, bins - 1)
        xs = [probability[index == b].mean() for b in range(bins) if (index == b).any()]
        ys = [label[index == b].mean() for b in range(bins) if (index == b).any()]
        ax.plot(xs, ys, "o-", label=name)
    ax.set_xlabel("predicted P(counterfeit)")
    ax.set_ylabel("observed frequency")
    ax.set_title("reliability")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def risk_coverage_png(path: Path, probability: np.ndarray, label: np.ndarray) -> None:
    from training.evaluate import risk_coverage

    curve = risk_coverage(probability, label)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(curve["coverage"], curve["risk"])
    ax.set_xlabel("coverage (share of items decided automatically)")
    ax.set_ylabel("risk (error rate among them)")
    ax.set_title("item-level risk-coverage")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def write_markdown_and_plots(
    metrics: dict,
    predictions: dict,
    dataset,
    model: EvaluatedModel,
    out_dir: Path,
    split: str,
) -> None:
    t, taxonomy, temps = dataset.targets, dataset.taxonomy, model.temperatures
    for task in CLASSIFICATION_TASKS:
        if (t.classes[task] >= 0).any():
            predicted = softmax(predictions[task], temps.get(task, 1.0)).argmax(1)
            confusion_png(
                out_dir / f"confusion_{task}.png", predicted, t.classes[task], taxonomy.classes(task), task
            )
    evidence = sigmoid(predictions[EVIDENCE] / temps.get(EVIDENCE, 1.0))
    known = t.evidence >= 0
    items = dataset.frame["item_id"].astype(str).to_numpy()
    item_prob, item_label = labelled_items(item_scores(items, evidence), items, t.item_label)
    curves = {"photo evidence": (evidence[known], t.evidence[known])}
    if len(item_prob):
        curves["item"] = (item_prob, item_label)
        risk_coverage_png(out_dir / "risk_coverage.png", item_prob, item_label)
    reliability_png(out_dir / "reliability.png", curves)

    lines = [
        f"# Evaluation of {model.name} ({model.backbone}) on split `{split}`",
        "",
        f"{metrics['photos']} photos of {metrics['items']} items; "
        f"taxonomy {model.taxonomy_version}; MLflow run {model.mlflow_run_id}.",
        "",
    ]
    from training.evaluate import headline, headline_table

    lines += ["## Every head", "", headline_table(headline(metrics)), "", "## All metrics", ""]
    lines += ["| task | metric | value |", "| --- | --- | --- |"]
    for key in (*CLASSIFICATION_TASKS, ORDINAL_TASK, EVIDENCE, "authenticity_item", "risk_coverage"):
        for name, value in metrics[key].items():
            lines.append(f"| {key} | {name} | {_fmt(value)} |")
    lines += [
        "",
        "## Defects",
        "",
        "| class | pixel AUROC | photo AUROC | IoU | positive pixels |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, row in metrics[DEFECTS].items():
        lines.append(
            f"| {name} | {_fmt(row['pixel_auroc'])} | {_fmt(row['photo_auroc'])} | {_fmt(row['iou'])} | "
            f"{row['positive_pixels']} |"
        )
    lines += [
        "",
        "## Errors per counterfeit cue",
        "",
        "Miss rates at a score of 0.5; recall at the threshold that flags 5% of authentic items (photos); "
        "the cue head's ROC-AUC: photos showing the cue against authentic photos of the views that "
        "can show it.",
        "",
        "| cue | items | item miss rate | item recall at 5% FPR | photos showing | photo miss rate "
        "| photo recall at 5% FPR | cue head ROC-AUC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cue, row in metrics[CUES].items():
        lines.append(
            f"| {cue} | {row['items']} | {_fmt(row['item_miss_rate'])} | "
            f"{_fmt(row['item_recall_at_5pct_fpr'])} | {row['photos_showing']} | "
            f"{_fmt(row['photo_miss_rate'])} | {_fmt(row['photo_recall_at_5pct_fpr'])} | "
            f"{_fmt(row.get('head_auroc', float('nan')))} |"
        )
    lines += ["", "Plots: " + ", ".join(sorted(p.name for p in out_dir.glob("*.png")))]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")
