"""`secondlook bench`: side-by-side performance figures (torch and the demo's artifacts needed)."""

from __future__ import annotations

from pathlib import Path

import click

from bench.scenarios import SCENARIOS


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = dict(v.split("=", 1) for v in values if "=" in v)
    if len(pairs) != len(values):
        raise click.BadParameter("expected REVIEWER=VALUE", param_hint=option)
    return pairs


@click.command()
@click.argument("scenarios", nargs=-1, type=click.Choice(list(SCENARIOS)))
@click.option("--quick", is_flag=True, help="Tiny sizes, for tests: the figures mean nothing.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/bench"),
    show_default=True,
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/synth/manifest.csv"),
    show_default=True,
)
@click.option(
    "--bundle", "bundles", multiple=True, metavar="REVIEWER=BUNDLE", help="Default: REVIEWER@champion."
)
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    metavar="REVIEWER=FILE",
    help="Default: runs/REVIEWER/model.safetensors.",
)
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option(
    "--tracking-uri",
    default="sqlite:///mlruns/mlflow.db",
    show_default=True,
    help="MLflow store holding the reviewers' runs (api scenario: mlflow models serve).",
)
def bench(
    scenarios: tuple[str, ...],
    quick: bool,
    out: Path,
    manifest: Path,
    bundles: tuple[str, ...],
    checkpoints: tuple[str, ...],
    models_dir: Path | None,
    tracking_uri: str,
) -> None:
    """Measure SCENARIOS (default: all) side by side and write JSON into --out."""
    from bench.context import BenchContext, BenchSettings
    from bench.run import run_scenarios

    context = BenchContext.locate(
        manifest,
        _pairs(bundles, "--bundle"),
        _pairs(checkpoints, "--checkpoint"),
        models_dir,
        BenchSettings(quick),
    )
    run_scenarios(scenarios or list(SCENARIOS), context, out, click.echo, tracking_uri=tracking_uri)
    click.echo(f"written: {out}")
