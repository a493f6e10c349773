"""`secondlook reviews export`: expert-final decisions as a labelled manifest."""

from __future__ import annotations

from pathlib import Path

import click

from serving.cli.sessions import store_sessions


@click.group()
def reviews() -> None:
    """Human review results."""


@reviews.command("export")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Manifest (.csv/.parquet)."
)
def export_reviews(out: Path) -> None:
    """Expert-final decisions as a labelled manifest for retraining."""
    from serving.review_export import export_reviewed
    from serving.settings import load_settings
    from serving.store.photos import PhotoStore

    settings = load_settings()
    items = export_reviewed(store_sessions(settings), PhotoStore(settings.photo_store), out)
    click.echo(f"{items} expert-decided items written to {out}")
