"""`secondlook policy`: fit the verdict policy's thresholds, and evaluate the verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from collections.abc import Iterable

    from serving.bundle import Bundle


@click.group()
def policy() -> None:
    """The verdict policy (configs/verdict.yaml)."""


_POLICY_OPTION = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Policy file [default: SECONDLOOK_POLICY_PATH, else the shipped configs/verdict.yaml].",
)
_MODEL_OPTION = click.option(
    "--model",
    "models",
    multiple=True,
    metavar="REVIEWER=BUNDLE",
    help="Bundle of a reviewer named in the policy (default: REVIEWER@champion); repeatable.",
)


def _policy_bundles(reviewers: Iterable[str], models: tuple[str, ...]) -> dict[str, Bundle]:
    """Each reviewer's bundle: as given by --model REVIEWER=BUNDLE, else REVIEWER@champion."""
    from serving.registry import open_bundle
    from serving.settings import load_settings

    names = list(reviewers)
    chosen = dict(m.split("=", 1) for m in models if "=" in m)
    if set(chosen) - set(names) or len(chosen) != len(models):
        raise click.BadParameter(
            f"expected REVIEWER=BUNDLE with REVIEWER in {', '.join(names)}", param_hint="--model"
        )
    root = load_settings().models_dir
    return {name: open_bundle(chosen.get(name, f"{name}@champion"), root) for name in names}


@policy.command()
@click.option(
    "--data",
    "manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Manifest with held-out labelled items (its val split is never trained on).",
)
@click.option("--split", default="val", show_default=True)
@click.option("--target-error", type=click.FloatRange(min=0, max=1), default=0.005, show_default=True)
@_POLICY_OPTION
@_MODEL_OPTION
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the fitted policy (default: over --policy).",
)
def fit(
    manifest: Path,
    split: str,
    target_error: float,
    policy_path: Path | None,
    models: tuple[str, ...],
    out: Path | None,
) -> None:
    """Fit the reviewers' thresholds to a target error rate among auto-decided items."""
    from data.atomic import atomic_write_text
    from serving.policy_fit import fit_thresholds, fitted_policy, panel_scores
    from serving.settings import load_settings
    from serving.verdict import load_policy

    policy_path = policy_path or load_settings().policy_path
    current = load_policy(policy_path)
    bundles = _policy_bundles(current.reviewers, models)
    scores, labels = panel_scores(bundles, manifest, split)
    result = fit_thresholds(scores, labels, target_error)
    click.echo(
        f"risk-coverage on {result.items} items of {manifest} ({split}), same confidence for all reviewers:"
    )
    click.echo(result.table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    confidences = ", ".join(f"{k} {v:.4f}" for k, v in result.confidences.items())
    click.echo(
        f"fitted: confidences {confidences}: "
        f"auto-decides {result.coverage:.1%} of items with error {result.risk:.2%} "
        f"(95% upper bound {result.risk_bound:.2%}, target {target_error:.2%})"
    )
    updated = fitted_policy(current, result, bundles, manifest, split, target_error)
    target = out or policy_path
    atomic_write_text(
        target, "# Fitted by `secondlook policy fit`; see `fitted` for data and models.\n" + updated.to_yaml()
    )
    click.echo(f"written: {target}")


@policy.command("evaluate")
@click.option(
    "--data",
    "manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Manifest with labelled items the reviewers and the policy were not fitted on.",
)
@click.option("--split", default="test", show_default=True)
@_POLICY_OPTION
@_MODEL_OPTION
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for metrics.json, items.csv, confusion.csv and risk_coverage.csv.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate_policy(
    manifest: Path, split: str, policy_path: Path | None, models: tuple[str, ...], out: Path, quiet: bool
) -> None:
    """The dual-review verdicts on labelled items: coverage, error among auto-decided items."""
    from serving.runner import ReviewerPanel
    from serving.settings import load_settings
    from serving.verdict import load_policy
    from serving.verdict_eval import verdict_table, write_evaluation

    current = load_policy(policy_path or load_settings().policy_path)
    panel = ReviewerPanel(_policy_bundles(current.reviewers, models), current)
    metrics = write_evaluation(verdict_table(panel, manifest, split, progress=not quiet), out)
    error, passed = metrics["error_auto_decided"], metrics["counterfeit_passthrough"]
    click.echo(
        f"{metrics['items']} items of {manifest} ({split}): auto-decided {metrics['coverage']:.1%}, "
        f"error among them {'n/a' if error is None else f'{error:.2%}'} "
        f"(95% upper bound {metrics['error_upper_95']:.2%}); counterfeits passed as authentic "
        f"{'n/a' if passed is None else f'{passed:.2%}'} "
        f"(95% upper bound {metrics['counterfeit_passthrough_upper_95']:.2%})"
    )
    click.echo("  " + ", ".join(f"{state} {share:.1%}" for state, share in metrics["states"].items()))
    click.echo(f"written: {out}")
