"""`secondlook train`: one reviewer from a YAML config."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="YAML config, e.g. configs/train/reviewer_a.yaml.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value, e.g. --set train.epochs=3 (repeatable).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last complete epoch.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(config_path: Path, overrides: tuple[str, ...], resume: bool, quiet: bool) -> None:
    """Train one reviewer: checkpoints, calibration and an MLflow run."""
    from data.decode import ImageDecodeError
    from data.manifest import ManifestError
    from training.config import ConfigError, load_config
    from training.model import PretrainedWeightsMissing

    try:
        config = load_config(config_path, list(overrides))
        from training.train import train as run_training

        run_dir = run_training(config, resume=resume, progress=not quiet)
    except (ConfigError, ManifestError, ImageDecodeError, PretrainedWeightsMissing, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"trained {config.name}: {run_dir / 'model.safetensors'}")
