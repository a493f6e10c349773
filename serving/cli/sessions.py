"""What the store commands share: sessions on the configured database, and who ran them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from serving.settings import Settings


def store_sessions(
    settings: Settings, migrate: bool = False, create_audit_key: bool = True
) -> sessionmaker[Session]:
    """Sessions on the configured database (brought to the newest schema first if `migrate`),
    appending to its keyed, anchored audit chain."""
    from serving.store import audit
    from serving.store.db import open_database, session_factory

    factory = session_factory(open_database(settings.database_url, migrate=migrate))
    return audit.configure(factory, settings.audit_config(create_audit_key))


def acting_user() -> str:
    """Who ran a command, for the audit trail: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
