"""`secondlook models`: list, show and promote bundles in the registry."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of bundles and registry.json (default: $SECONDLOOK_MODELS_DIR or ./models).",
)
@click.pass_context
def models(ctx: click.Context, models_dir: Path | None) -> None:
    """The model registry: which bundle is champion or challenger."""
    ctx.obj = models_dir


def _root(models_dir: Path | None) -> Path:
    """--models-dir, else the configured one (SECONDLOOK_MODELS_DIR, default ./models)."""
    from serving.settings import load_settings

    return models_dir if models_dir is not None else load_settings().models_dir


@models.command("list")
@click.pass_obj
def list_models(root: Path | None) -> None:
    """Every bundle with its aliases."""
    from serving.registry import list_bundles

    folder = _root(root)
    refs = list_bundles(folder)
    if not refs:
        click.echo(f"no bundles in {folder}; make one with `secondlook export`")
        return
    for ref in refs:
        aliases = f"  [{', '.join(ref.aliases)}]" if ref.aliases else ""
        click.echo(f"{ref.name}/{ref.version}{aliases}  {ref.path}")


@models.command()
@click.argument("reference")
@click.pass_obj
def show(root: Path | None, reference: str) -> None:
    """A bundle's metadata: NAME/VERSION, NAME@ALIAS or a folder."""
    from serving.registry import open_bundle

    bundle = open_bundle(reference, _root(root))
    meta = bundle.metadata
    summary = {
        "bundle": str(bundle.directory),
        "name": meta.name,
        "version": meta.version,
        "backbone": meta.backbone,
        "taxonomy": meta.taxonomy.model_dump(),
        "preprocess": meta.preprocess.to_dict(),
        "temperatures": meta.temperatures,
        "metrics": meta.metrics,
        "quantization": meta.quantization.model_dump(exclude_unset=True) if meta.quantization else None,
        "mlflow_run_id": meta.mlflow_run_id,
        "git_sha": meta.git_sha,
        "graph_sha256": meta.graph_sha256,
        "providers": bundle.session.get_providers(),
    }
    click.echo(json.dumps(summary, indent=2))


@models.command()
@click.argument("name")
@click.argument("version")
@click.option("--alias", type=click.Choice(["champion", "challenger"]), required=True)
@click.pass_obj
def promote(root: Path | None, name: str, version: str, alias: str) -> None:
    """Point NAME@ALIAS at models/NAME/VERSION (checked, then written atomically)."""
    from serving.registry import promote as run_promote

    path = run_promote(name, version, alias, _root(root))
    click.echo(f"{name}@{alias} -> {path}")
