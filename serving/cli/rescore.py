"""`secondlook rescore`: re-score a whole inventory (resumable), and diff two runs."""

from __future__ import annotations

from pathlib import Path

import click


class _RescoreGroup(click.Group):
    """`secondlook rescore MANIFEST ...` runs a job; `secondlook rescore diff OLD NEW` compares two."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_RescoreGroup)
def rescore() -> None:
    """Re-score a whole inventory with the current models (resumable), or diff two runs.

    \b
    secondlook rescore MANIFEST --out RUN_DIR [--models champion] [--resume] [--workers N]
    secondlook rescore diff OLD_RUN NEW_RUN [--out DIR]
    """


@rescore.command("run")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Run folder.")
@click.option(
    "--models", "alias", default="champion", show_default=True, help="Registry alias of each reviewer."
)
@click.option("--resume", is_flag=True, help="Finish a run that was interrupted.")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=None, help="Decoding processes [cores / 4].")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Photos per batch."
)
@click.option("--part-items", type=click.IntRange(min=1), default=256, show_default=True, hidden=True)
def rescore_run(
    manifest: Path,
    out: Path,
    alias: str,
    resume: bool,
    engine: str,
    workers: int | None,
    batch_size: int,
    part_items: int,
) -> None:
    """Score every item of MANIFEST into RUN_DIR: Parquet parts, errors.csv, summary.json.

    Exit codes: 0 all items scored, 3 finished but some items could not be scored (see
    errors.csv), 1 the job could not run."""
    from tqdm import tqdm

    from serving.api.app import load_panel
    from serving.batch.engine import EngineOptions, share_cores
    from serving.batch.items import count_items
    from serving.batch.run import rescore as run_rescore
    from serving.settings import load_settings

    settings = load_settings()
    workers, threads = share_cores(workers, settings.inference_threads)
    reviewers = {n: f"{n}@{alias}" for n in settings.reviewers}
    settings = settings.model_copy(update={"reviewers": reviewers, "inference_threads": threads})
    total = count_items(manifest)
    panel = load_panel(settings)
    options = EngineOptions(workers=workers, batch_size=batch_size, part_items=part_items)
    with tqdm(total=total, unit="item", desc="rescore", dynamic_ncols=True) as bar:
        summary = run_rescore(
            manifest,
            out,
            panel,
            settings.policy_path,
            options,
            resume=resume,
            engine=engine,
            on_start=bar.update,
            on_items=bar.update,
        )
    verdicts = ", ".join(f"{state} {n}" for state, n in summary["verdicts"].items()) or "none"
    click.echo(f"{summary['scored']} of {summary['items']} items scored ({verdicts}) -> {out}")
    if summary["items_per_second"]:
        click.echo(f"{summary['items_per_second']} items/s this session")
    if summary["errors"]:
        click.echo(f"{summary['errors']} item(s) could not be scored: see {out / 'errors.csv'}", err=True)
        raise SystemExit(3)


@rescore.command("diff")
@click.argument("old", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("new", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for diff.md and changed.csv [NEW/diff]",
)
def rescore_diff(old: Path, new: Path, out: Path | None) -> None:
    """Items whose verdict changed between two runs, and counts per transition."""
    from data.atomic import atomic_path, atomic_write_text
    from serving.batch.diff import diff_runs

    result = diff_runs(old, new)
    out = out or new / "diff"
    report = result.markdown(str(old), str(new))
    atomic_write_text(out / "diff.md", report)
    with atomic_path(out / "changed.csv") as tmp:
        result.changed.to_csv(tmp, index=False)
    with atomic_path(out / "transitions.csv") as tmp:
        result.transitions.to_csv(tmp, index=False)
    click.echo(report, nl=False)
    click.echo(f"written: {out / 'diff.md'}, {out / 'changed.csv'}, {out / 'transitions.csv'}")
