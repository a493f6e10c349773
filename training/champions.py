"""The shipped champions (ARCHITECTURE.md §9): their records, cards and the CI guard's check.

`scripts/champions ship` exports both long-trained reviewers, scores them on held-out
benchmarks and then runs this module, which copies each bundle into `models/NAME/VERSION/`
(replacing any older version: the repository keeps one champion per reviewer), writes its
`champion.json` (what the guard and the demo read) and `card.md` (for people), ships the
fitted policy as `models/policy.yaml` and points `NAME@champion` at the new version.

`guard_problems` is the guard's rule, a pure function: a figure measured on a fresh render
fails when its own interval does not reach the card's 95% interval.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from serving.bundle import CARD_FILE, MODEL_FILE
from serving.registry import promote
from training.checkpoint import read_metadata
from training.evaluate import HEADLINE

RECORD_FILE = "champion.json"
POLICY_FILE = "policy.yaml"
BASELINES_FILE = "baselines.json"
# The targets of issue 37 ("Done when"), for the card's last column.
TARGETS = {
    "view": 0.99,
    "hardware_type": 0.98,
    "hardware_finish": 0.97,
    "stamp_type": 0.97,
    "category": 0.95,
    "condition": 0.75,
    "condition_within_one": 0.98,
    "defects_auroc": 0.95,
    "item_auc": 0.85,
}


@dataclass
class ChampionRecord:
    """Everything the card says, machine-readable (`champion.json` beside the bundle)."""

    name: str
    version: str
    training: dict[str, Any]
    heldout: dict[str, Any]  # benchmark, figures {key: value}, intervals {key: [low, high]}
    panel: dict[str, Any] = field(default_factory=dict)
    agreement: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def read(cls, bundle_dir: Path) -> ChampionRecord:
        return cls(**json.loads((bundle_dir / RECORD_FILE).read_text()))


def guard_problems(
    record: ChampionRecord, figures: dict[str, float], intervals: dict[str, tuple[float, float]]
) -> list[str]:
    """What a fresh render says against the card: one line per figure whose interval on the
    render (`intervals`, e.g. 99.8%) lies wholly outside the card's 95% interval."""
    problems = []
    labels = {key: label for key, label, _, _ in HEADLINE}
    for key, (card_low, card_high) in record.heldout["intervals"].items():
        if key not in figures:
            problems.append(f"{labels.get(key, key)}: not measured on the render")
            continue
        low, high = intervals[key]
        if high < card_low or low > card_high:
            problems.append(
                f"{labels.get(key, key)}: {figures[key]:.3f} (interval {low:.3f}-{high:.3f}) on the render, "
                f"card {record.heldout['figures'][key]:.3f} (95% {card_low:.3f}-{card_high:.3f})"
            )
    return problems


def _hours(seconds: float) -> str:
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def training_record(run_dir: Path, config_path: Path) -> dict[str, Any]:
    """How the champion was trained, from its run folder and its training benchmark."""
    metadata = read_metadata(run_dir / "model.safetensors")
    config = metadata["config"]
    benchmark = json.loads((Path(config["data"]["manifest"]).parent / "benchmark.json").read_text())
    history = metadata.get("val_metrics") or {}
    return {
        "command": f"scripts/champions train  (secondlook train --config {config_path} [--resume])",
        "config_file": str(config_path),
        "config": config,
        "data": {
            "generator_version": benchmark["generator_version"],
            "seed": benchmark["config"]["seed"],
            "items": benchmark["items"],
            "train_items": benchmark["split_items"]["train"],
            "difficulty": benchmark["config"]["difficulty"],
            "size": benchmark["config"]["size"],
            "manifest_sha256": metadata["data_manifest_sha256"],
        },
        "best_epoch": metadata["best_epoch"] + 1,
        "epochs_planned": config["train"]["epochs"],
        "photos_seen": history.get("photos_seen"),
        "git_sha": metadata["git_sha"],
        "machine": metadata.get("machine", "not recorded"),
        "wall_seconds": metadata.get("wall_seconds"),
        "validation": metadata["val_calibrated"],
    }


def heldout_record(eval_dir: Path, seed: int) -> dict[str, Any]:
    from training.evaluate import headline

    metrics = json.loads((eval_dir / "metrics.json").read_text())
    return {
        "seed": seed,
        "items": metrics["items"],
        "photos": metrics["photos"],
        "figures": headline(metrics),
        "intervals": {key: list(value) for key, value in metrics["intervals"].items()},
    }


def card_text(record: ChampionRecord, export_card: str) -> str:
    """The human card: held-out figures first, then the panel, training and the export's card."""
    held, train = record.heldout, record.training
    data = train["data"]
    rows = [
        "| head | figure | 95% interval | target | majority class | pixels |",
        "|---|---|---|---|---|---|",
    ]
    majority, pixels = held.get("majority_class", {}), held.get("pixels", {})
    for key, label, _, _ in HEADLINE:
        if key not in held["figures"]:
            continue
        low, high = held["intervals"].get(key, (float("nan"), float("nan")))
        target = f"≥ {TARGETS[key]:.2f}" if key in TARGETS else ""
        trivial = " | ".join(f"{b[key]:.3f}" if key in b else "" for b in (majority, pixels))
        rows.append(f"| {label} | {held['figures'][key]:.3f} | {low:.3f}–{high:.3f} | {target} | {trivial} |")
    panel = record.panel
    wall = train.get("wall_seconds")
    lines = [
        f"# Champion: {record.name} {record.version}",
        "",
        f"The `{record.name}@champion` that `make demo`, the API and batch re-scoring use, trained on "
        f"the {data['train_items']:,} training items of a {data['items']:,}-item benchmark (best epoch "
        f"{train['best_epoch']} of {train['epochs_planned']} planned); figures below come from a "
        f"benchmark of seed {held['seed']}, which neither its training, its validation nor the policy "
        "fit used.",
        "",
        f"## Figures on held-out items (seed {held['seed']}: {held['items']:,} items, "
        f"{held['photos']:,} photos)",
        "",
        "Intervals: percentile bootstrap over items (1,000 resamples; an item's photos resampled together). "
        "Majority class: always the training split's most common class (grade), a constant score for AUCs. "
        f"Pixels: a logistic regression on 32x32 colour pixels of {held.get('pixels_train_items', 0):,} "
        "training items' photos (`training/baselines.py`; an item scored by its most suspicious photo).",
        f"Command: `secondlook evaluate --bundle models/{record.name}/{record.version} --data BENCHMARK "
        "--split test --intervals`, BENCHMARK rendered by `secondlook data synth --items 2000 "
        f"--seed {held['seed']} --splits 0,0,1`.",
        "",
        *rows,
        "",
    ]
    if panel:
        passthrough = panel.get("counterfeit_passthrough")
        error = panel.get("error_auto_decided")
        lines += [
            "## The panel of both champions",
            "",
            f"Policy fitted on seed {panel['policy_seed']}'s {panel['policy_items']:,} validation items at "
            f"{panel['target_error']:.0%} target error (`models/{POLICY_FILE}`), verdicts on the "
            f"{panel['items']:,} held-out items above:",
            f"- auto-decided: {panel['coverage']:.1%} ({panel['auto_decided']} items)",
            f"- error among them: {'n/a' if error is None else f'{error:.2%}'} "
            f"(Wilson 95% upper bound {panel['error_upper_95']:.2%})",
            f"- counterfeits passed as AUTHENTIC: {'n/a' if passthrough is None else f'{passthrough:.2%}'} "
            f"(Wilson 95% upper bound {panel['counterfeit_passthrough_upper_95']:.2%})",
            "",
        ]
    if record.agreement:
        a = record.agreement["at_median"]
        lines += [
            "## Independence of the two reviewers (held-out items, each cut at its median score)",
            "",
            f"Errors {a['error_a']:.3f} (A) and {a['error_b']:.3f} (B) at that cut. "
            f"Error correlation (phi) {a['error_correlation']:.3f}; both wrong on "
            f"{a['both_wrong']:.3f} of items "
            f"against {a['both_wrong_if_independent']:.3f} if their errors were independent; rank "
            f"correlation of their scores {a['score_correlation']:.3f}.",
            "",
        ]
    lines += [
        "## Training",
        "",
        f"- Command: `{train['command']}`; config `{train['config_file']}` (resolved in `{RECORD_FILE}`).",
        f"- Data: `secondlook data synth`, generator {data['generator_version']}, seed {data['seed']}, "
        f"{data['items']:,} `{data['difficulty']}` items at {data['size']} px, of which "
        f"{data['train_items']:,} training items (manifest sha256 `{data['manifest_sha256'][:16]}`).",
        f"- Best epoch {train['best_epoch']} of {train['epochs_planned']} planned; "
        f"{train['photos_seen'] or 0:,.0f} photos seen by then.",
        f"- Project commit `{str(train['git_sha'])[:12]}`; machine: {train['machine']}; wall time "
        f"{_hours(wall) if wall else 'not recorded'}.",
        "",
        "---",
        "",
        export_card.replace("# Model card:", "## Export card:", 1),
    ]
    return "\n".join(lines)


def learning_curves(names: list[str], work: Path) -> str:
    """Both champions' validation figures per epoch (their runs' history.csv) as the curves
    plot and summary of `secondlook curves`: what more epochs would buy."""
    import pandas as pd

    from training.config import load_config
    from training.curves import PLOT_FILE, plot_curves, summary
    from training.data import load_splits
    from training.train import HISTORY_FILE

    parts = []
    for name in names:
        config = load_config(Path(f"configs/train/{name}_champion.yaml"))
        items = load_splits(config.data).train["item_id"].nunique()
        history = pd.read_csv(Path(config.out_dir) / HISTORY_FILE)
        parts.append(history.assign(series=name, benchmark=name, train_items=items))
    frame = pd.concat(parts, ignore_index=True)
    plot_curves(frame, work / PLOT_FILE)
    return summary(frame)


def median_split_agreement(eval_a: Path, eval_b: Path) -> dict[str, float]:
    """`secondlook compare`'s statistics with each reviewer cut at its own median item score.

    The noisy-OR of four photos' calibrated evidence puts nearly every item above 0.5, so at
    0.5 both reviewers call everything counterfeit and their errors look identical; the
    held-out benchmark is half counterfeit, so the median is each one's natural cut."""
    from training.agreement import read_items, reviewer_agreement

    tables = []
    for folder in (eval_a, eval_b):
        items = read_items(folder)
        tables.append(items.assign(p_counterfeit=items["p_counterfeit"].rank(pct=True)))
    return reviewer_agreement(tables[0], tables[1], threshold=0.5 + 1e-9)


def ship(
    names: list[str],
    version: str,
    work: Path,
    models: Path,
    policy_seed: int,
    test_seed: int,
    runs: Path,
) -> list[Path]:
    """Copy each exported bundle of `work` into `models`, with its record and card, replacing
    older versions; ship the fitted policy; promote each to champion. `work` holds what the steps
    of scripts/champions wrote; each NAME's training run is `runs/NAME_champion`."""
    agreement = {
        "at_0.5": json.loads((work / "agreement.json").read_text()),
        "at_median": median_split_agreement(work / "eval" / names[0], work / "eval" / names[1]),
    }
    verdicts = json.loads((work / "verdicts" / "metrics.json").read_text())
    policy = yaml.safe_load((work / POLICY_FILE).read_text())
    fitted = policy.get("fitted", {})
    panel = {
        **{
            k: verdicts[k]
            for k in ("items", "coverage", "auto_decided", "error_auto_decided", "error_upper_95")
        },
        "counterfeit_passthrough": verdicts["counterfeit_passthrough"],
        "counterfeit_passthrough_upper_95": verdicts["counterfeit_passthrough_upper_95"],
        "states": verdicts["states"],
        "policy_seed": policy_seed,
        "policy_items": fitted.get("data", {}).get("items"),
        "target_error": fitted.get("target_error"),
    }
    shipped = []
    baselines = json.loads((work / BASELINES_FILE).read_text())  # python -m training.baselines
    for name in names:
        source = work / "bundles" / name / version
        target = models / name / version
        record = ChampionRecord(
            name=name,
            version=version,
            training=training_record(runs / f"{name}_champion", Path(f"configs/train/{name}_champion.yaml")),
            heldout={
                **heldout_record(work / "eval" / name, test_seed),
                "majority_class": baselines["majority_class"],
                "pixels": baselines["pixels"],
                "pixels_train_items": baselines["pixels_train_items"],
            },
            panel=panel,
            agreement=agreement,
        )
        for old in (models / name).glob("*"):
            if old.is_dir() and old.name != "demo":
                shutil.rmtree(old)
        target.mkdir(parents=True)
        shutil.copy2(source / MODEL_FILE, target / MODEL_FILE)
        shutil.copy2(source / "export.json", target / "export.json")
        (target / RECORD_FILE).write_text(json.dumps(asdict(record), indent=1, default=float) + "\n")
        (target / CARD_FILE).write_text(card_text(record, (source / CARD_FILE).read_text()))
        promote(name, version, "champion", models)
        shipped.append(target)
    shutil.copy2(work / POLICY_FILE, models / POLICY_FILE)
    (work / "curves.md").write_text(learning_curves(names, work))
    return shipped


def main() -> None:
    parser = argparse.ArgumentParser(description="Ship the champions of scripts/champions into models/.")
    parser.add_argument("names", nargs="+")
    parser.add_argument("--version", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--policy-seed", type=int, required=True)
    parser.add_argument("--test-seed", type=int, required=True)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    args = parser.parse_args()
    shipped = ship(
        args.names,
        args.version,
        args.work,
        args.models,
        args.policy_seed,
        args.test_seed,
        args.runs,
    )
    for path in shipped:
        print(f"shipped: {path}")


if __name__ == "__main__":
    main()
