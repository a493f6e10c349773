"""Store: migrations, keys, content-addressed photos and the tamper-evident audit chain (real SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, inspect, select, update

from serving.store import audit
from serving.store.db import make_engine, session_factory, transaction, upgrade
from serving.store.keys import create_key, find_key
from serving.store.models import AuditEntry
from serving.store.photos import PhotoStore


@pytest.fixture()
def factory(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()


def test_migrations_create_every_table_in_wal_mode(factory, tmp_path: Path) -> None:
    engine = factory.kw["bind"]
    assert set(inspect(engine).get_table_names()) >= {
        "api_keys",
        "appraisals",
        "photos",
        "reviews",
        "audit_log",
    }
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    upgrade(f"sqlite:///{tmp_path / 'db.sqlite'}")  # a second upgrade is a no-op


def test_keys_are_stored_hashed_and_found_by_secret(factory) -> None:
    with transaction(factory) as session:
        row, secret = create_key(session, "ana", "expert")
    assert secret.startswith("sl_") and secret not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    with transaction(factory) as session:
        assert find_key(session, secret).name == "ana"
        assert find_key(session, secret + "x") is None
    with pytest.raises(ValueError, match="role must be one of"), transaction(factory) as session:
        create_key(session, "bob", "owner")


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


def test_readers_take_no_write_lock_and_writers_do(factory, tmp_path: Path) -> None:
    import sqlite3

    from serving.store.db import reading

    def another_writer_can_start() -> bool:
        other = sqlite3.connect(tmp_path / "db.sqlite", timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            other.close()

    with reading(factory) as session:
        session.scalars(select(AuditEntry)).all()
        assert another_writer_can_start()
    with transaction(factory) as session:
        session.scalars(select(AuditEntry)).all()
        assert not another_writer_can_start()
