"""Engine and sessions: SQLite (WAL, one writer at a time) by default, PostgreSQL by URL.

Migrations run through Alembic (`upgrade`), at server start and with `secondlook db upgrade`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from secondlook.errors import SecondlookError

MIGRATIONS = Path(__file__).parent / "migrations"
READONLY = "secondlook_readonly"  # execution option marking a read-only transaction


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            # Writers take the write lock at the start of their transaction, so that two
            # writers never interleave (the audit chain relies on it); readers (`reading`)
            # take none and see a consistent WAL snapshot.
            readonly = connection.get_execution_options().get(READONLY, False)
            connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(424242)"))  # one writer, as on SQLite
        yield session


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A read-only unit of work: no write lock, so reads never wait behind writers.

    Closing the session ends the transaction; loaded objects stay readable afterwards."""
    with factory() as session:
        session.connection(execution_options={READONLY: True})
        yield session


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema (Alembic)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(config, "head")


class DatabaseUnavailable(SecondlookError, ValueError):
    """The database URL is malformed, its driver is missing, or its server cannot be reached."""


def redacted(url: str) -> str:
    """The URL as it may appear in messages and logs: without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def open_database(url: str, migrate: bool = False) -> Engine:
    """An engine on `url`, checked by connecting once (and migrated first if `migrate`).

    Every way this fails becomes one `DatabaseUnavailable` whose message names the URL
    (password hidden) and the cause, so commands and server start-up print a line, not a traceback."""
    try:
        engine = make_engine(url)  # first: it creates a SQLite file's folder
        if migrate:
            upgrade(url)
        with engine.connect():
            pass
        return engine
    except (SQLAlchemyError, ModuleNotFoundError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise DatabaseUnavailable(f"cannot open the database {redacted(url)}: {first_line}") from None


def schema_version(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None before the first migration)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def newest_schema_version() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head() or ""
