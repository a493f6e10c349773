"""`secondlook db` (schema migrations) and `secondlook audit` (verify the chain)."""

from __future__ import annotations

import click

from serving.cli.sessions import store_sessions


@click.group()
def db() -> None:
    """The database: schema migrations (Alembic)."""


@db.command("upgrade")
def upgrade_database() -> None:
    """Bring SECONDLOOK_DATABASE_URL to the newest schema (the server also does this at start)."""
    from serving.settings import load_settings
    from serving.store.db import newest_schema_version, open_database, redacted, schema_version

    settings = load_settings()
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
def audit() -> None:
    """The hash-chained audit log."""


@audit.command()
def verify() -> None:
    """Check the whole chain; exit 1 naming the first entry that does not fit."""
    from serving.settings import load_settings
    from serving.store.audit import CONFIG, verify_chain
    from serving.store.db import reading
    from serving.store.reconcile import reconcile

    sessions = store_sessions(load_settings(), create_audit_key=False)  # the database first, then the key
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
