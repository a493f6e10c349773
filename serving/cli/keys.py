"""`secondlook keys`: create, revoke and list API keys (audited)."""

from __future__ import annotations

import click

from serving.cli.sessions import acting_user, store_sessions


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
    from serving.settings import load_settings
    from serving.store.db import transaction
    from serving.store.keys import create_key

    with transaction(store_sessions(load_settings(), migrate=True)) as session:
        row, secret = create_key(session, name, role, actor=acting_user(), person=person)
    click.echo(f"key {row.id} ({role}, {name}): {secret}")
    click.echo("Keep it safe: it is not stored and cannot be shown again.", err=True)


@keys.command("revoke")
@click.argument("key_id", type=int)
def revoke_key_command(key_id: int) -> None:
    """Revoke key KEY_ID (see `keys list`): refused from the next request on; audited."""
    from serving.settings import load_settings
    from serving.store.db import transaction
    from serving.store.keys import UnknownKey, revoke_key

    try:
        with transaction(store_sessions(load_settings(), migrate=True)) as session:
            row = revoke_key(session, key_id, actor=acting_user())
    except UnknownKey as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"key {row.id} ({row.role}, {row.name}) revoked")


@keys.command("list")
def list_keys_command() -> None:
    """Every key: id, role, name, person, the first characters of its secret, created, revoked."""
    from serving.settings import load_settings
    from serving.store.db import reading
    from serving.store.keys import list_keys

    with reading(store_sessions(load_settings(), migrate=True)) as session:
        rows = list_keys(session)
    for row in rows:
        state = "revoked" if row.revoked else "active"
        created = f"{row.created_at:%Y-%m-%d}"
        click.echo(f"{row.id}\t{row.role}\t{row.name}\t{row.person}\t{row.prefix}...\t{created}\t{state}")
