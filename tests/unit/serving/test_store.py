"""Store: migrations, keys, content-addressed photos and the tamper-evident audit chain.

Every database test runs on a real SQLite file and on a real PostgreSQL server (`database_url`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, inspect, select, update

from serving.store import audit
from serving.store.db import (
    DatabaseUnavailable,
    make_engine,
    newest_schema_version,
    open_database,
    reading,
    schema_version,
    session_factory,
    transaction,
    upgrade,
)
from serving.store.keys import create_key, find_key
from serving.store.models import AuditEntry
from serving.store.photos import PhotoStore


@pytest.fixture()
def factory(database_url: str):
    upgrade(database_url)
    engine = make_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


def test_migrations_create_every_table(factory, database_url: str) -> None:
    engine = factory.kw["bind"]
    assert set(inspect(engine).get_table_names()) >= {
        "api_keys",
        "appraisals",
        "photos",
        "reviews",
        "audit_log",
        "alembic_version",
    }
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    upgrade(database_url)  # a second upgrade is a no-op
    with engine.connect() as connection:
        versions = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all()
    assert versions == ["0004"]


def test_an_existing_database_gains_the_heatmap_column_and_keeps_its_rows(database_url: str) -> None:
    """0001 -> 0002: photos appraised before heatmaps were stored keep their rows, heatmap None."""
    from alembic import command
    from alembic.config import Config

    from serving.store.db import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "0001")
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO api_keys (id, name, role, key_hash, prefix, created_at, revoked) "
            "VALUES (1, 'shop', 'appraiser', 'h', 'sl_', '2026-01-01', false)"
        )
        connection.exec_driver_sql(
            "INSERT INTO appraisals (id, created_at, created_by, ai_state, provisional, status, result) "
            "VALUES ('a1', '2026-01-01', 1, 'REFER_TO_EXPERT', false, 'awaiting_review', '{}')"
        )
        connection.exec_driver_sql(
            "INSERT INTO photos (id, appraisal_id, position, sha256, width, height) "
            "VALUES (1, 'a1', 1, 'd', 9, 9)"
        )
    upgrade(database_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT sha256, heatmap_sha256 FROM photos").all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("d", None)]


def test_keys_are_stored_hashed_and_found_by_secret(factory) -> None:
    with transaction(factory) as session:
        row, secret = create_key(session, "ana", "expert")
    assert secret.startswith("sl_") and secret not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    with transaction(factory) as session:
        assert find_key(session, secret).name == "ana"
        assert find_key(session, secret + "x") is None
    with pytest.raises(ValueError, match="role must be one of"), transaction(factory) as session:
        create_key(session, "bob", "owner")


def test_creating_and_revoking_a_key_are_audited_and_a_revoked_key_is_refused(factory) -> None:
    from serving.store.keys import UnknownKey, revoke_key
    from serving.store.models import AuditEntry

    with transaction(factory) as session:
        row, secret = create_key(session, "ana", "expert", actor="cli:ops")
    with transaction(factory) as session:
        revoke_key(session, row.id, actor="cli:ops")
        revoke_key(session, row.id, actor="cli:ops")  # twice: one entry
        assert find_key(session, secret) is None
        with pytest.raises(UnknownKey, match="no API key 999"):
            revoke_key(session, 999)
    with transaction(factory) as session:
        entries = [(e.actor, e.action, e.subject) for e in session.scalars(select(AuditEntry))]
        assert entries == [
            ("cli:ops", "key.created", f"key:{row.id}"),
            ("cli:ops", "key.revoked", f"key:{row.id}"),
        ]
        assert audit.verify_chain(session).ok


def test_identical_photos_are_stored_once(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "photos")
    first, second = store.put(b"same bytes"), store.put(b"same bytes")
    assert first == second and store.get(first) == b"same bytes"
    assert len(list((tmp_path / "photos").rglob("*"))) == 2  # one shard folder, one file
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


def _chain(factory, n: int = 5) -> None:
    for k in range(n):
        with transaction(factory) as session:
            audit.append(session, "key:1", "appraisal.created", f"a{k}", {"state": "REFER_TO_EXPERT", "k": k})


def _report(factory):
    with transaction(factory) as session:
        return audit.verify_chain(session)


def test_an_untouched_chain_verifies(factory) -> None:
    _chain(factory)
    report = _report(factory)
    assert report.ok and report.entries == 5


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (update(AuditEntry).where(AuditEntry.seq == 3).values(payload='{"state":"AUTHENTIC"}'), 3),
        (update(AuditEntry).where(AuditEntry.seq == 2).values(actor="key:9"), 2),
        (delete(AuditEntry).where(AuditEntry.seq == 2), 3),
    ],
    ids=["edited payload", "edited actor", "deleted row"],
)
def test_any_edit_or_deletion_is_named(factory, tamper, first_bad: int) -> None:
    _chain(factory)
    with transaction(factory) as session:
        session.execute(tamper)
    report = _report(factory)
    assert not report.ok and report.first_bad == first_bad


def test_reordering_rows_is_detected(factory) -> None:
    _chain(factory)
    with transaction(factory) as session:
        rows = {
            e.seq: (e.at, e.subject, e.payload, e.prev_hash, e.hash)
            for e in session.scalars(select(AuditEntry))
        }
        for seq, other in ((2, 4), (4, 2)):
            at, subject, payload, prev_hash, digest = rows[other]
            session.execute(
                update(AuditEntry)
                .where(AuditEntry.seq == seq)
                .values(at=at, subject=subject, payload=payload, prev_hash=prev_hash, hash=digest)
            )
    report = _report(factory)
    assert not report.ok and report.first_bad == 2


def _another_writer_can_start(database_url: str) -> bool:
    """Whether a second connection could start writing now (SQLite write lock, or our advisory lock)."""
    if database_url.startswith("sqlite"):
        import sqlite3

        other = sqlite3.connect(database_url.split("///", 1)[1], timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()
    engine = create_engine(database_url)
    try:
        with engine.begin() as connection:
            return bool(connection.exec_driver_sql("SELECT pg_try_advisory_xact_lock(424242)").scalar())
    finally:
        engine.dispose()


def test_readers_take_no_write_lock_and_writers_do(factory, database_url: str) -> None:
    with reading(factory) as session:
        session.scalars(select(AuditEntry)).all()
        assert _another_writer_can_start(database_url)
    with transaction(factory) as session:
        session.scalars(select(AuditEntry)).all()
        assert not _another_writer_can_start(database_url)


def _append_concurrently(factory, workers: int = 8, each: int = 6) -> None:
    """`workers` threads, each appending `each` entries in transactions of their own."""

    def append_some(worker: int) -> None:
        for k in range(each):
            with transaction(factory) as session:
                audit.append(session, f"key:{worker}", "appraisal.created", f"w{worker}-{k}", {"k": k})

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(append_some, range(workers)))


def test_concurrent_writers_never_fork_the_chain(factory) -> None:
    """Eight threads appending at once: each append chains onto the one before, none is lost."""
    _append_concurrently(factory)
    report = _report(factory)
    assert report.ok and report.entries == 48, report.problem


def test_concurrent_keyed_writers_leave_the_anchor_at_the_head(factory, tmp_path: Path) -> None:
    """Commits finish out of order; the anchor, written after each, still ends at the last entry."""
    config = audit.AuditConfig(b"k" * 32, tmp_path / "anchor.json")
    keyed = audit.configure(factory, config)
    _append_concurrently(keyed)
    with reading(keyed) as session:
        report = audit.verify_chain(session, config)
        plain = audit.verify_chain(session)  # without the key the keyed entries do not verify
    assert report.ok and report.entries == 48 and report.anchored == 48 and report.keyed_from == 1, report
    assert not plain.ok and plain.first_bad == 1
    with reading(keyed) as session:  # another key: nothing verifies
        other = audit.verify_chain(session, audit.AuditConfig(b"x" * 32, config.anchor))
    assert not other.ok and "MAC mismatch" in str(other.problem)


def _secondlook(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SECONDLOOK_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "secondlook.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_db_upgrade_migrates_once_then_reports_the_schema(database_url: str) -> None:
    first = _secondlook(database_url, "db", "upgrade")
    assert first.returncode == 0 and "schema empty -> 0004" in first.stdout, first.stdout + first.stderr
    again = _secondlook(database_url, "db", "upgrade")
    assert again.returncode == 0 and "already at the newest schema (0004)" in again.stdout
    engine = make_engine(database_url)
    assert schema_version(engine) == newest_schema_version() == "0004"
    engine.dispose()


def test_keys_create_on_a_fresh_checkout_creates_the_sqlite_folder(tmp_path) -> None:
    """`make demo` creates a key before anything else has touched var/."""
    url = f"sqlite:///{tmp_path / 'var' / 'secondlook.db'}"
    result = _secondlook(url, "keys", "create", "--role", "appraiser", "--name", "demo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("key ") and (tmp_path / "var" / "secondlook.db").is_file()


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("postgresql+psycopg://ops:hunter2@127.0.0.1:1/secondlook", "Connection refused"),
        ("mysql://ops@db/secondlook", "No module named"),
        ("not a url", "Could not parse"),
    ],
)
def test_an_unreachable_database_is_one_line_without_its_password(url: str, cause: str) -> None:
    with pytest.raises(DatabaseUnavailable, match=cause) as raised:
        open_database(url)
    assert "hunter2" not in str(raised.value) and "\n" not in str(raised.value)
    result = _secondlook(url, "audit", "verify")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("Error: cannot open the database") and "hunter2" not in result.stderr
