"""`secondlook audit verify` on a real deployment's database: the keyed chain, its anchor outside
the database, and the state tables replayed against the log. The app runs in process on a
real SQLite file; the command runs as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from serving.api.app import create_app
from serving.settings import Settings
from serving.store import audit
from serving.store.db import open_database, session_factory, transaction
from serving.store.keys import create_key
from serving.store.models import AuditEntry
from tests.integration.service import item_photos, upload_files


def _verify(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SECONDLOOK_DATABASE_URL": settings.database_url}
    command = [sys.executable, "-m", "secondlook.cli", "audit", "verify"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def _sql(settings: Settings, *statements: str) -> None:
    engine = create_engine(settings.database_url)
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def _reviewed_appraisal(settings: Settings, manifest: Path) -> tuple[str, dict[str, int]]:
    """One appraisal uploaded and reviewed by two experts who agree, through the app."""
    sessions = audit.configure(
        session_factory(open_database(settings.database_url, migrate=True)), settings.audit_config()
    )
    secrets, ids = {}, {}
    with transaction(sessions) as session:
        for name, role in (("shop", "appraiser"), ("ana", "expert"), ("ben", "expert")):
            row, secrets[name] = create_key(session, name, role)
            ids[name] = row.id
    photos = item_photos(manifest)
    with TestClient(create_app(settings)) as client:
        upload = client.post(
            "/v1/appraisals",
            files=upload_files(photos),
            data={"views": [v for v, _ in photos]},
            headers={"Authorization": f"Bearer {secrets['shop']}"},
        )
        assert upload.status_code == 201 and upload.json()["status"] == "awaiting_review", upload.text
        item = upload.json()["id"]
        for expert in ("ana", "ben"):
            review = client.post(
                f"/v1/appraisals/{item}/reviews",
                json={"decision": "COUNTERFEIT"},
                headers={"Authorization": f"Bearer {secrets[expert]}"},
            )
            assert review.status_code == 201, review.text
    return item, ids


def test_verify_catches_table_edits_truncation_and_a_rechained_log(
    settings: Settings, tiny_manifest: Path
) -> None:
    item, ids = _reviewed_appraisal(settings, tiny_manifest)
    intact = _verify(settings)
    assert intact.returncode == 0, intact.stderr
    assert "6 entries, keyed from entry 1, anchored at 6" in intact.stdout  # 3 keys, 1 upload, 2 reviews
    assert "agree with it" in intact.stdout

    # Someone with write access to the database changes the tables, not the log.
    _sql(
        settings,
        f"UPDATE appraisals SET final_state = 'AUTHENTIC' WHERE id = '{item}'",
        f"DELETE FROM reviews WHERE reviewer_id = {ids['ben']}",
        f"UPDATE api_keys SET role = 'admin' WHERE id = {ids['shop']}",
    )
    edited = _verify(settings)
    assert edited.returncode == 1 and "Traceback" not in edited.stderr
    assert "disagree with the audit chain in 3 place(s)" in edited.stderr, edited.stderr
    assert f"appraisal {item}: reviews is" in edited.stderr
    final = f"appraisal {item}: final_state is 'AUTHENTIC' in the table, 'COUNTERFEIT' in the log"
    assert final in edited.stderr
    assert f"key:{ids['shop']}: role is 'admin' in the table, 'appraiser' in the log" in edited.stderr

    # Deleting the last entries leaves a chain that verifies on its own; the anchor says it is short.
    _sql(settings, "DELETE FROM audit_log WHERE seq >= 5")
    truncated = _verify(settings)
    assert truncated.returncode == 1
    assert "the chain ends at entry 4 but its anchor records 6: entries 5-6 were deleted" in truncated.stderr

    # Editing an entry and re-chaining the rest without the key (plain sha256, as before keys).
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        prev = audit.GENESIS
        for entry in entries:
            if entry.seq == 2:
                entry.payload = entry.payload.replace('"expert"', '"admin"')
            entry.prev_hash = prev
            entry.hash = audit.entry_hash(
                prev, entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.payload
            )
            prev = entry.hash
    engine.dispose()
    rechained = _verify(settings)
    assert rechained.returncode == 1 and "broken at entry 1: entry 1 was altered" in rechained.stderr


def test_the_anchor_cannot_be_edited_or_removed_unnoticed(settings: Settings, tiny_manifest: Path) -> None:
    _reviewed_appraisal(settings, tiny_manifest)
    anchor = settings.audit_config().anchor
    body = json.loads(anchor.read_text())
    anchor.write_text(json.dumps({**body, "entries": 4}))  # shortened to hide a truncation
    edited = _verify(settings)
    assert edited.returncode == 1 and "MAC mismatch" in edited.stderr
    anchor.unlink()
    removed = _verify(settings)
    assert removed.returncode == 1 and "no audit anchor" in removed.stderr


def test_a_chain_begun_before_keys_is_checked_with_sha256_up_to_its_first_keyed_entry(
    settings: Settings,
) -> None:
    url = settings.database_url
    plain = session_factory(open_database(url, migrate=True))  # as before audit keys existed
    with transaction(plain) as session:
        create_key(session, "old", "appraiser")
    keyed = audit.configure(session_factory(open_database(url)), settings.audit_config())
    with transaction(keyed) as session:
        create_key(session, "new", "expert")
    report = _verify(settings)
    assert report.returncode == 0, report.stderr
    assert "2 entries, keyed from entry 2, anchored at 2" in report.stdout
    engine = create_engine(url)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM audit_log WHERE seq = 2")).mappings().one()
    engine.dispose()
    assert row["hash"] != audit.entry_hash(  # the keyed entry is not a plain sha256 one
        row["prev_hash"], 2, row["at"], row["actor"], row["action"], row["subject"], row["payload"]
    )
