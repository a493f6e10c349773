"""`secondlook train`, `curves`, `evaluate`, `compare`, `export` and `quantize`: training-side commands."""

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
@click.option(
    "--finish",
    is_flag=True,
    help="With --resume: train no further; calibrate the best epoch so far and write the model "
    "(a later --resume goes on training).",
)
@click.option("--quiet", is_flag=True, help="No progress bars (one line per stage and epoch stays).")
def train(config_path: Path, overrides: tuple[str, ...], resume: bool, finish: bool, quiet: bool) -> None:
    """Train one reviewer: checkpoints, calibration and an MLflow run.

    Prints a line per stage and per epoch (loss, validation figures, ETA) and, at the end,
    every head's calibrated validation figure."""
    from training.config import load_config
    from training.train import train as run_training

    config = load_config(config_path, list(overrides))
    run_dir = run_training(config, resume=resume, progress=not quiet, report=click.echo, finish_now=finish)
    click.echo(f"trained {config.name}: {run_dir / 'model.safetensors'}")


def _benchmark(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise click.BadParameter(f"{value!r}: expected NAME=MANIFEST, e.g. standard=data/synth/manifest.csv")
    if not Path(path).is_file():
        raise click.BadParameter(f"{path}: no such manifest")
    return name, Path(path)


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="YAML config of the reviewer to train, e.g. configs/train/reviewer_a.yaml.",
)
@click.option(
    "--benchmark",
    "benchmarks",
    multiple=True,
    required=True,
    metavar="NAME=MANIFEST",
    help="A benchmark to train on, e.g. standard=data/synth/manifest.csv (repeatable).",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=6, show_default=True, help="Epochs per benchmark."
)
@click.option(
    "--items",
    "items",
    multiple=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="Also train on only the first N training items of each benchmark (repeatable; "
    "default: all of them): curves of what more items buy.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config value.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/curves"),
    show_default=True,
    help="Folder for the runs, curves.csv, learning_curves.png and curves.md.",
)
def curves(
    config_path: Path,
    benchmarks: tuple[str, ...],
    epochs: int,
    items: tuple[int, ...],
    overrides: tuple[str, ...],
    out_dir: Path,
) -> None:
    """Learning curves: one reviewer per benchmark (and per --items), validated on the
    benchmark's val split after every epoch.

    Plots item ROC-AUC, mean per-cue item recall at 5% false-positive rate and the share of
    items one reviewer decides at 1% error against photos seen and wall-clock time, and says
    how many photos (more epochs) or training items (more items) the recipe would need for
    99% item accuracy."""
    from training.curves import SUMMARY_FILE, learning_curves

    manifests = dict(_benchmark(value) for value in benchmarks)
    learning_curves(
        config_path, manifests, epochs, out_dir, list(overrides), click.echo, sorted(set(items)) or None
    )
    click.echo((out_dir / SUMMARY_FILE).read_text().rstrip())
    click.echo(f"curves: {out_dir / 'learning_curves.png'}")


@click.command()
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A trained model.safetensors (run folder of `secondlook train`).",
)
@click.option(
    "--bundle",
    default=None,
    help="Or an exported bundle: a folder, a model.onnx, or NAME@ALIAS from models/registry.json.",
)
@click.option(
    "--data",
    "manifest",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Manifest to evaluate on.",
)
@click.option("--split", default="test", show_default=True, help="train, val, test or all.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for report.md, metrics.json and the plots.",
)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option(
    "--intervals",
    is_flag=True,
    help="Also each figure's 95% confidence interval (bootstrap over items, 1,000 resamples).",
)
def evaluate(
    checkpoint: Path | None,
    bundle: str | None,
    manifest: Path,
    split: str,
    out_dir: Path,
    workers: int,
    intervals: bool,
) -> None:
    """Metrics, plots and a Markdown report of a trained reviewer (or its bundle) on one split."""
    if (checkpoint is None) == (bundle is None):
        raise click.UsageError("give exactly one of --checkpoint or --bundle")
    from serving.registry import resolve_bundle
    from serving.settings import load_settings
    from serving.tasks import EVIDENCE
    from training.evaluate import evaluate as run_evaluation
    from training.evaluate import headline, headline_table

    if checkpoint is not None:
        model_path = checkpoint
    else:
        assert bundle is not None, "exactly one of --checkpoint and --bundle, checked above"
        model_path = resolve_bundle(bundle, load_settings().models_dir)
    metrics = run_evaluation(model_path, manifest, split, out_dir, workers, intervals)
    click.echo(headline_table(headline(metrics), metrics.get("intervals")))
    item = metrics["authenticity_item"]
    click.echo(
        f"item authenticity accuracy {item['accuracy']:.3f} (AUC {item['roc_auc']:.3f}, n={item['n']}); "
        f"photo evidence accuracy {metrics[EVIDENCE]['accuracy']:.3f}"
    )
    click.echo(f"report: {out_dir / 'report.md'}")


@click.command()
@click.argument("eval_a", type=click.Path(exists=True, path_type=Path))
@click.argument("eval_b", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the figures as JSON here.",
)
def compare(eval_a: Path, eval_b: Path, out: Path | None) -> None:
    """How correlated two reviewers' errors are, from two `secondlook evaluate` folders."""
    import json

    from data.atomic import atomic_write_bytes
    from training.agreement import format_agreement, read_items, reviewer_agreement

    stats = reviewer_agreement(read_items(eval_a), read_items(eval_b))
    click.echo(format_agreement(stats))
    if out is not None:
        atomic_write_bytes(out, (json.dumps(stats, indent=2) + "\n").encode())
        click.echo(f"written: {out}")


@click.command()
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A trained model.safetensors.",
)
@click.option("--run", "run_id", default=None, help="Or an MLflow run id whose model.safetensors to export.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Bundle folder to create, e.g. models/reviewer_a/1 (must not exist).",
)
@click.option(
    "--data",
    "manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Manifest whose photos check the export (default: the one the model was trained on).",
)
def export(checkpoint: Path | None, run_id: str | None, out: Path, manifest: Path | None) -> None:
    """Export a trained reviewer to a verified single-file ONNX bundle with its model card."""
    if (checkpoint is None) == (run_id is None):
        raise click.UsageError("give exactly one of --checkpoint or --run")
    from training.export import checkpoint_from_run
    from training.export import export as run_export

    if checkpoint is not None:
        source = checkpoint
    else:
        assert run_id is not None, "exactly one of --checkpoint and --run, checked above"
        source = checkpoint_from_run(run_id)
    report = run_export(source, out, manifest, provenance={"mlflow_run_id": run_id} if run_id else None)
    click.echo(
        f"exported {report.bundle} (batch sizes {', '.join(map(str, report.batch_sizes_checked))} checked; "
        f"PyTorch vs onnxruntime max |diff| {report.parity_max_abs_diff:.2e} "
        f"on {report.parity_photos} photos)"
    )


@click.command()
@click.argument("bundle_ref")
@click.option(
    "--calib",
    "calib_manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="Manifest whose photos calibrate the INT8 ranges.",
)
@click.option("--calib-split", default="val", show_default=True, help="Split of --calib to draw photos from.")
@click.option("--calib-photos", type=click.IntRange(min=1), default=64, show_default=True)
@click.option(
    "--data",
    "test_manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Manifest whose test split measures accuracy (default: --calib).",
)
@click.option(
    "--max-loss-pp",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Refuse the INT8 variant if it loses more accuracy than this (percentage points).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Bundle folder to create (default: VERSION-int8 beside the source).",
)
def quantize(
    bundle_ref: str,
    calib_manifest: Path,
    calib_split: str,
    calib_photos: int,
    test_manifest: Path | None,
    max_loss_pp: float,
    out: Path | None,
) -> None:
    """Static INT8 (QDQ) variant of BUNDLE_REF (folder, NAME/VERSION or NAME@ALIAS)."""
    from serving.registry import resolve_bundle
    from serving.settings import load_settings
    from training.quantize import quantize as run_quantize

    report = run_quantize(
        resolve_bundle(bundle_ref, load_settings().models_dir),
        calib_manifest,
        out,
        test_manifest,
        max_loss_pp,
        calib_photos,
        calib_split,
    )
    click.echo(report.table())
    click.echo(f"accepted: {report.bundle}")
