"""`secondlook data ...`: build the benchmark, import public datasets, validate and preview manifests.

Heavy imports (pandas, the renderer) happen inside each command, so `secondlook data --help`
stays instant. User mistakes end in an `Error: ...` message and exit code 1 or 2, never a
traceback (see `secondlook.cli.LazyGroup`).
"""

from __future__ import annotations

from pathlib import Path

import click

from data.splits import DEFAULT_FRACTIONS, check_fractions
from data.synthetic.config import DIFFICULTIES


@click.group()
def data() -> None:
    """Benchmark generation, dataset import, manifest validation and preview."""


def _apply_config_file(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """Fill options the user did not give on the command line from a YAML file (flags win)."""
    if value is None:
        return None
    from secondlook.yamlfile import load_yaml

    loaded = load_yaml(value, click.BadParameter, what="config file") or {}
    if not isinstance(loaded, dict):
        raise click.BadParameter(f"{value}: expected a mapping of option: value")
    # YAML keys are the long flags without dashes: `counterfeit_rate` or `counterfeit-rate`.
    by_flag = {
        opt.lstrip("-").replace("-", "_"): param.name
        for param in ctx.command.params
        for opt in param.opts
        if opt.startswith("--") and param.name and param.expose_value
    }
    keys = {str(k).replace("-", "_"): v for k, v in loaded.items()}
    unknown = sorted(k for k in keys if k not in by_flag)
    if unknown:
        raise click.BadParameter(
            f"{value}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(by_flag))})"
        )
    ctx.default_map = {**(ctx.default_map or {}), **{by_flag[k]: v for k, v in keys.items()}}
    return value


class SplitFractions(click.ParamType):
    """ "0.35,0.325,0.325" (or a YAML list): the train, val and test shares, summing to 1."""

    name = "TRAIN,VAL,TEST"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[float, float, float]:
        parts = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        try:
            shares = tuple(float(p) for p in parts)
        except (TypeError, ValueError):
            self.fail(f"{value!r}: expected three numbers such as 0.7,0.15,0.15", param, ctx)
        try:
            return check_fractions(shares)
        except ValueError:
            self.fail(f"{value!r}: expected three non-negative shares that sum to 1", param, ctx)


SPLIT_FRACTIONS = SplitFractions()


@data.command()
@click.option(
    "--config",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    is_eager=True,
    expose_value=False,
    callback=_apply_config_file,
    help="YAML file of option values (e.g. configs/data/synth.yaml); flags given here win.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write images/, masks/, the manifest and benchmark.json into.",
)
@click.option(
    "--items",
    type=click.IntRange(min=1),
    default=400,
    show_default=True,
    help="Items to render (4 photos each).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--difficulty", type=click.Choice(sorted(DIFFICULTIES)), default="standard", show_default=True)
@click.option(
    "--size", type=click.IntRange(128, 1024), default=256, show_default=True, help="Photo side in pixels."
)
@click.option("--counterfeit-rate", type=click.FloatRange(0, 1), default=0.5, show_default=True)
@click.option(
    "--splits",
    type=SPLIT_FRACTIONS,
    default=",".join(map(str, DEFAULT_FRACTIONS)),
    show_default=True,
    help="Shares of items in train, val and test. Validation and test items cost only "
    "inference, so a benchmark can give them more items than training.",
)
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True, help="0 = one per core.")
@click.option("--format", "format_", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def synth(
    out_dir: Path,
    items: int,
    seed: int,
    difficulty: str,
    size: int,
    counterfeit_rate: float,
    splits: tuple[float, float, float],
    workers: int,
    format_: str,
    quiet: bool,
) -> None:
    """Render the synthetic product-photo benchmark."""
    import json

    from data.synthetic.config import SynthConfig
    from data.synthetic.generate import SUMMARY_NAME, generate

    config = SynthConfig(
        items=items,
        seed=seed,
        difficulty=difficulty,
        size=size,
        counterfeit_rate=counterfeit_rate,
        workers=workers,
        manifest_name=f"manifest.{format_}",
        split_fractions=splits,
    )
    manifest = generate(config, out_dir, progress=not quiet)
    summary = json.loads((out_dir / SUMMARY_NAME).read_text())
    click.echo(
        f"{summary['photos']} photos of {items} items ({summary['counterfeit_items']} counterfeit) in "
        f"{summary['seconds']} s: {summary['photos_per_second_per_worker']} photos/s per worker "
        f"x {summary['workers']} workers"
    )
    shares = summary["split_items"]
    click.echo(" / ".join(f"{shares.get(split, 0)} {split}" for split in ("train", "val", "test")) + " items")
    click.echo(f"manifest: {manifest}")
    click.echo(f"preview:  secondlook data preview {manifest} --out {out_dir / 'preview.png'}")


@data.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PNG to write.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=32, show_default=True, help="Photos on the sheet."
)
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None, help="Only this split.")
@click.option("--counterfeit-only", is_flag=True, help="Only counterfeit items.")
@click.option("--tile", type=click.IntRange(64, 512), default=224, show_default=True)
def preview(
    manifest: Path, out: Path, limit: int, split: str | None, counterfeit_only: bool, tile: int
) -> None:
    """Contact sheet of a manifest's photos with labels and cues under each."""
    from data.manifest import read_manifest
    from data.preview import contact_sheet, select_rows

    frame = read_manifest(manifest)
    if split:
        frame = frame[frame["split"] == split]
    if counterfeit_only:
        frame = frame[frame["authenticity"] == "counterfeit"]
    by_item = frame["item_id"].duplicated().any()
    frame = select_rows(frame, limit, by_item=bool(by_item))
    click.echo(f"wrote {contact_sheet(manifest, frame, out, tile=tile)} ({len(frame)} photos)")


@data.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-files", is_flag=True, help="Skip opening the image files (labels and ids only).")
@click.option("--workers", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--max-lines", type=click.IntRange(min=1), default=50, show_default=True)
def validate(manifest: Path, no_files: bool, workers: int, max_lines: int) -> None:
    """Report bad rows (missing files, labels outside the taxonomy, duplicate ids, ...); exit 1 if any."""
    from data.validate import validate_manifest

    report = validate_manifest(manifest, check_files=not no_files, workers=workers, progress=True)
    click.echo(report.format(max_lines=max_lines))
    if not report.ok:
        raise SystemExit(1)


@data.command(name="import")
@click.argument("source", type=str)
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Manifest to write (.csv or .parquet); image paths are stored relative to its folder.",
)
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="COLUMN=SOURCE_COLUMN",
    help="table source: manifest column = your table's column (repeatable).",
)
@click.option(
    "--image-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="table source: folder relative image paths start from (default: the table's folder).",
)
@click.option("--task", default=None, help="imagefolder source: which taxonomy task the folder names label.")
@click.option("--ignore-unknown", is_flag=True, help="imagefolder source: skip folders that are not classes.")
@click.option(
    "--keep-unmapped", is_flag=True, help="abo/fashion sources: keep products outside our categories."
)
@click.option("--split-seed", type=int, default=0, show_default=True, help="Seed of the item -> split hash.")
def import_(
    source: str,
    path: Path,
    out: Path,
    mappings: tuple[str, ...],
    image_root: Path | None,
    task: str | None,
    ignore_unknown: bool,
    keep_unmapped: bool,
    split_seed: int,
) -> None:
    """Turn a public dataset at PATH into a manifest. SOURCE: imagefolder, table, mvtec, abo, fashion."""
    from data.manifest import write_manifest
    from data.sources import SOURCES, import_source

    if source not in SOURCES:
        raise click.BadParameter(
            f"unknown source {source!r}; choose from {', '.join(sorted(SOURCES))}", param_hint="SOURCE"
        )
    options: dict[str, object] = {}
    if mappings:
        pairs = [m.split("=", 1) for m in mappings]
        if any(len(p) != 2 or not p[0] or not p[1] for p in pairs):
            raise click.BadParameter("expected COLUMN=SOURCE_COLUMN", param_hint="--map")
        options["mapping"] = dict(pairs)
    if image_root is not None:
        options["image_root"] = image_root
    if task is not None:
        options["task"] = task
    if ignore_unknown:
        options["ignore_unknown"] = True
    if keep_unmapped:
        options["keep_unmapped"] = True
    accepted = set(SOURCES[source].options)
    unsupported = sorted(set(options) - accepted)
    if unsupported:
        flags = ", ".join("--" + o.replace("_", "-").replace("mapping", "map") for o in unsupported)
        raise click.UsageError(f"{flags} does not apply to the {source} source")
    frame = import_source(source, path, out.parent.resolve(), split_seed=split_seed, **options)
    write_manifest(frame, out)
    counts = {k: v for k, v in frame.attrs.items() if isinstance(v, int) and v}
    extra = f" ({', '.join(f'{k}: {v}' for k, v in counts.items())})" if counts else ""
    click.echo(f"wrote {out}: {len(frame)} photos of {frame['item_id'].nunique()} items{extra}")
    click.echo(f"check it: secondlook data validate {out}")
