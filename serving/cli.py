"""The serving side's commands: models, policy, serve, appraise, keys, audit, reviews (torch-free).

Heavy modules are imported inside the commands, so that `secondlook --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session, sessionmaker

    from serving.bundle import Bundle
    from serving.runner import Appraisal
    from serving.settings import Settings


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


_POLICY_OPTION = click.option(
    "--policy",
    "policy_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=Path("configs/verdict.yaml"),
    show_default=True,
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

    names = list(reviewers)
    chosen = dict(m.split("=", 1) for m in models if "=" in m)
    if set(chosen) - set(names) or len(chosen) != len(models):
        raise click.BadParameter(
            f"expected REVIEWER=BUNDLE with REVIEWER in {', '.join(names)}", param_hint="--model"
        )
    return {name: open_bundle(chosen.get(name, f"{name}@champion")) for name in names}


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
    policy_path: Path,
    models: tuple[str, ...],
    out: Path | None,
) -> None:
    """Fit the reviewers' thresholds to a target error rate among auto-decided items."""
    from data.atomic import atomic_write_text
    from serving.policy_fit import fit_thresholds, fitted_policy, score_items
    from serving.verdict import load_policy

    current = load_policy(policy_path)
    bundles = _policy_bundles(current.reviewers, models)
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
    manifest: Path, split: str, policy_path: Path, models: tuple[str, ...], out: Path, quiet: bool
) -> None:
    """The dual-review verdicts on labelled items: coverage, error among auto-decided items."""
    from serving.runner import ReviewerPanel
    from serving.verdict import load_policy
    from serving.verdict_eval import verdict_table, write_evaluation

    current = load_policy(policy_path)
    panel = ReviewerPanel(_policy_bundles(current.reviewers, models), current)
    metrics = write_evaluation(verdict_table(panel, manifest, split, progress=not quiet), out)
    error = metrics["error_auto_decided"]
    click.echo(
        f"{metrics['items']} items of {manifest} ({split}): auto-decided {metrics['coverage']:.1%}, "
        f"error among them {'n/a' if error is None else f'{error:.2%}'} "
        f"(95% upper bound {metrics['error_upper_95']:.2%})"
    )
    click.echo("  " + ", ".join(f"{state} {share:.1%}" for state, share in metrics["states"].items()))
    click.echo(f"written: {out}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the appraisal API (settings from SECONDLOOK_* environment variables)."""
    import logging

    import uvicorn

    from serving.api.app import create_app, load_panel
    from serving.settings import Settings
    from serving.store.db import open_database

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # JSON access lines, one per request
    logging.getLogger("alembic").setLevel(logging.WARNING)

    # Models and database are checked here first, so a wrong setting is one line, not a traceback
    # (the app migrates the database when it starts).
    settings = Settings()
    panel = load_panel(settings)
    open_database(settings.database_url).dispose()
    click.echo(f"secondlook API on http://{host}:{port} (OpenAPI at /docs)")
    uvicorn.run(create_app(settings, panel), host=host, port=port, log_level="info")


def _store_sessions(
    settings: Settings, migrate: bool = False, create_audit_key: bool = True
) -> sessionmaker[Session]:
    """Sessions on the configured database (brought to the newest schema first if `migrate`),
    appending to its keyed, anchored audit chain."""
    from serving.store import audit
    from serving.store.db import open_database, session_factory

    factory = session_factory(open_database(settings.database_url, migrate=migrate))
    return audit.configure(factory, settings.audit_config(create_audit_key))


@click.group()
def db() -> None:
    """The database: schema migrations (Alembic)."""


@db.command("upgrade")
def upgrade_database() -> None:
    """Bring SECONDLOOK_DATABASE_URL to the newest schema (the server also does this at start)."""
    from serving.settings import Settings
    from serving.store.db import newest_schema_version, open_database, redacted, schema_version

    settings = Settings()
    engine = open_database(settings.database_url)
    before = schema_version(engine)
    engine.dispose()
    engine = open_database(settings.database_url, migrate=True)
    after = schema_version(engine)
    engine.dispose()
    where = redacted(settings.database_url)
    if before == after:
        click.echo(f"{where}: already at the newest schema ({after})")
    else:
        click.echo(f"{where}: schema {before or 'empty'} -> {after} (newest {newest_schema_version()})")


@click.group()
def keys() -> None:
    """API keys (stored hashed; the secret is shown once)."""


@keys.command("create")
@click.option(
    "--role",
    type=click.Choice(["appraiser", "expert", "arbiter", "admin", "monitor"]),
    required=True,
    help="monitor: a key for Prometheus, which may read /metrics and nothing else.",
)
@click.option("--name", required=True, help="Who or what uses the key.")
@click.option(
    "--person",
    default=None,
    help="The person the key belongs to (default: --name). Give all of one person's keys the "
    "same person: the review rules then count them as one reviewer.",
)
def create_key_command(role: str, name: str, person: str | None) -> None:
    """Create a key and print its secret."""
    from serving.settings import Settings
    from serving.store.db import transaction
    from serving.store.keys import create_key

    with transaction(_store_sessions(Settings(), migrate=True)) as session:
        row, secret = create_key(session, name, role, actor=_operator(), person=person)
    click.echo(f"key {row.id} ({role}, {name}): {secret}")
    click.echo("Keep it safe: it is not stored and cannot be shown again.", err=True)


@keys.command("revoke")
@click.argument("key_id", type=int)
def revoke_key_command(key_id: int) -> None:
    """Revoke key KEY_ID (see `keys list`): refused from the next request on; audited."""
    from serving.settings import Settings
    from serving.store.db import transaction
    from serving.store.keys import UnknownKey, revoke_key

    try:
        with transaction(_store_sessions(Settings(), migrate=True)) as session:
            row = revoke_key(session, key_id, actor=_operator())
    except UnknownKey as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {row.id} ({row.role}, {row.name}) revoked")


@keys.command("list")
def list_keys_command() -> None:
    """Every key: id, role, name, person, the first characters of its secret, created, revoked."""
    from serving.settings import Settings
    from serving.store.db import reading
    from serving.store.keys import list_keys

    with reading(_store_sessions(Settings(), migrate=True)) as session:
        rows = list_keys(session)
    for row in rows:
        state = "revoked" if row.revoked else "active"
        created = f"{row.created_at:%Y-%m-%d}"
        click.echo(f"{row.id}\t{row.role}\t{row.name}\t{row.person}\t{row.prefix}...\t{created}\t{state}")


def _operator() -> str:
    """Who ran a command, for the audit trail: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command()
def verify() -> None:
    """Check the whole chain; exit 1 naming the first entry that does not fit."""
    from serving.settings import Settings
    from serving.store.audit import CONFIG, verify_chain
    from serving.store.db import reading
    from serving.store.reconcile import reconcile

    sessions = _store_sessions(Settings(), create_audit_key=False)  # the database first, then the key
    with reading(sessions) as session:
        config = session.info[CONFIG]  # the key and anchor the sessions were configured with
        report = verify_chain(session, config)
        mismatches = reconcile(session)
    if not report.ok:
        raise click.ClickException(f"audit chain broken at entry {report.first_bad}: {report.problem}")
    if mismatches:
        shown = "\n  ".join(mismatches[:20])
        more = f"\n  ... and {len(mismatches) - 20} more" if len(mismatches) > 20 else ""
        raise click.ClickException(
            f"the state tables disagree with the audit chain in {len(mismatches)} place(s):\n  {shown}{more}"
        )
    keyed = f", keyed from entry {report.keyed_from}" if report.keyed_from else ""
    click.echo(
        f"audit chain intact: {report.entries} entries{keyed}, anchored at {report.anchored or 0} "
        f"({config.anchor}); appraisals, reviews and keys agree with it"
    )


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
    from serving.settings import Settings
    from serving.verdict_eval import appraise_item, manifest_items

    if bool(photos) == bool(manifest):
        raise click.UsageError("give either PHOTOS or --manifest")
    panel = load_panel(Settings())
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


def _print_appraisal(result: Appraisal, photos: int, as_json: bool) -> None:
    verdict = result.verdict
    if as_json:
        from serving.api.routes.appraisals import _body

        click.echo(json.dumps(_body("local", result, ["" for _ in range(photos)]), indent=2, default=float))
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
    from serving.settings import Settings
    from serving.store.photos import PhotoStore

    settings = Settings()
    items = export_reviewed(_store_sessions(settings), PhotoStore(settings.photo_store), out)
    click.echo(f"{items} expert-decided items written to {out}")


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
    import os

    from tqdm import tqdm

    from serving.api.app import load_panel
    from serving.batch.engine import EngineOptions
    from serving.batch.items import count_items
    from serving.batch.run import rescore as run_rescore
    from serving.settings import Settings

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # Decoding workers and onnxruntime's threads share the cores; over-subscribing them is slower
    # than decoding in this process (measured: 2 cores, one worker, 0.68x of the models alone).
    workers = cores // 4 if workers is None else workers
    settings = Settings()
    reviewers = {n: f"{n}@{alias}" for n in settings.reviewers}
    threads = settings.inference_threads or max(1, cores - workers)
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
