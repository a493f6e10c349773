"""`secondlook models`: list, show and promote exported bundles (torch-free)."""

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


@models.command("list")
@click.pass_obj
def list_models(root: Path | None) -> None:
    """Every bundle with its aliases."""
    from serving.registry import list_bundles, models_dir

    refs = list_bundles(root)
    if not refs:
        click.echo(f"no bundles in {root or models_dir()}; make one with `secondlook export`")
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

    bundle = open_bundle(reference, root)
    meta = bundle.metadata
    summary = {
        "bundle": str(bundle.directory),
        "name": meta.get("name"),
        "version": meta.get("version"),
        "backbone": meta.get("backbone"),
        "taxonomy": meta["taxonomy"],
        "preprocess": meta["preprocess"],
        "temperatures": meta["temperatures"],
        "metrics": meta.get("metrics", {}),
        "quantization": meta.get("quantization"),
        "mlflow_run_id": meta.get("mlflow_run_id"),
        "git_sha": meta.get("git_sha"),
        "graph_sha256": meta["graph_sha256"],
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

    path = run_promote(name, version, alias, root)
    click.echo(f"{name}@{alias} -> {path}")


@click.group()
def policy() -> None:
    """The verdict policy (configs/verdict.yaml)."""


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
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("configs/verdict.yaml"),
    show_default=True,
)
@click.option(
    "--model",
    "models",
    multiple=True,
    metavar="REVIEWER=BUNDLE",
    help="Bundle of a reviewer named in the policy (default: REVIEWER@champion); repeatable.",
)
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
    policy_path: Path,
    models: tuple[str, ...],
    out: Path | None,
) -> None:
    """Fit the reviewers' thresholds to a target error rate among auto-decided items."""
    from data.atomic import atomic_write_text
    from serving.policy_fit import fit_thresholds, fitted_policy, score_items
    from serving.registry import open_bundle
    from serving.verdict import load_policy

    current = load_policy(policy_path)
    chosen = dict(m.split("=", 1) for m in models if "=" in m)
    unknown = set(chosen) - set(current.reviewers)
    if unknown or len(chosen) != len(models):
        raise click.BadParameter(
            f"expected REVIEWER=BUNDLE with REVIEWER in {', '.join(current.reviewers)}", param_hint="--model"
        )
    bundles = {name: open_bundle(chosen.get(name, f"{name}@champion")) for name in current.reviewers}
    tables = {name: score_items(bundle, manifest, split) for name, bundle in bundles.items()}
    first = next(iter(tables.values()))
    for name, table in tables.items():
        if list(table["item_id"]) != list(first["item_id"]):
            raise ValueError(f"reviewer {name} scored other items than the others")
    result = fit_thresholds(
        {name: t["p_counterfeit"].to_numpy() for name, t in tables.items()},
        first["label"].to_numpy(),
        target_error,
    )
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
