"""`secondlook appraise`: one item (or items of a manifest) appraised locally, as the API does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from serving.runner import PanelResult


@click.command()
@click.argument("photos", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--view", "views", multiple=True, help="View of each photo, in order (optional).")
@click.option("--value", "declared_value", type=click.FloatRange(min=0), default=None, help="Declared value.")
@click.option("--category", default=None)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Instead of PHOTOS: appraise items of this manifest (photos, views, value and category from it).",
)
@click.option("--item", "item_ids", multiple=True, help="With --manifest: this item (repeatable).")
@click.option("--split", default="all", show_default=True, help="With --manifest: items of this split.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="With --manifest: at most this many.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
def appraise(
    photos: tuple[Path, ...],
    views: tuple[str, ...],
    declared_value: float | None,
    category: str | None,
    manifest: Path | None,
    item_ids: tuple[str, ...],
    split: str,
    limit: int,
    as_json: bool,
) -> None:
    """Appraise one item from its photos (or items of a manifest) locally, with the same code as the API."""
    from data.decode import decode_image
    from serving.api.app import load_panel
    from serving.settings import load_settings
    from serving.verdict_eval import appraise_item, manifest_items

    if bool(photos) == bool(manifest):
        raise click.UsageError("give either PHOTOS or --manifest")
    panel = load_panel(load_settings())
    if manifest is not None:
        for n, item in enumerate(manifest_items(manifest, split, item_ids)):
            if n == limit and not item_ids:
                break
            truth = f" (truth: {item.label})" if item.label else ""
            click.echo(f"{item.item_id}{truth}: ", nl=False)
            _print_appraisal(appraise_item(panel, item), len(item.photos), as_json)
        return
    unknown = [v for v in views if v not in panel.taxonomy.view_names]
    if unknown:
        raise click.BadParameter(f"unknown view {unknown[0]!r}", param_hint="--view")
    result = panel.appraise([decode_image(p) for p in photos], list(views), declared_value, category)
    _print_appraisal(result, len(photos), as_json)


def _print_appraisal(result: PanelResult, photos: int, as_json: bool) -> None:
    verdict = result.verdict
    if as_json:
        from serving.api.schemas import AppraisalResult

        answer = AppraisalResult.from_panel("local", result, ["" for _ in range(photos)])
        click.echo(json.dumps(answer.model_dump(mode="json"), indent=2))
        return
    click.echo(f"{verdict.state.value}{' (provisional)' if verdict.provisional else ''}")
    for reason in verdict.reasons:
        click.echo(f"  - {reason.message}")
    for name, score in result.item_scores.items():
        model = result.models[name]
        click.echo(f"  {name}: P(counterfeit) {score:.3f} ({model['name']} {model['version']})")
    for photo in result.photos:
        labels = [f"{t} {v['label']}" for t, v in photo.labels.items()]
        defects = ", ".join(d["class"] for d in photo.defects) or "no defects"
        click.echo(f"  photo {photo.index} ({photo.view}): {', '.join([*labels, defects])}")
    click.echo(f"  condition: grade {result.condition['grade']}")
