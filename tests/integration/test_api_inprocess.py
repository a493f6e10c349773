"""The app in process (`TestClient(create_app(settings))`): real bundles and a real SQLite
database, no server process. For what the ASGI stack does, quicker than the `test_api_*.py`
modules, which run a real server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.api.app import create_app
from serving.settings import Settings
from serving.store.db import open_database, session_factory, transaction
from serving.store.keys import create_key
from tests.integration.service import item_photos, upload_files


def test_a_server_error_gets_a_request_id_a_log_line_and_a_metric(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="secondlook.api")
    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/broken", headers={"X-Request-Id": "req-42"})
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["x-request-id"] == "req-42"
        assert "a bug" not in response.text  # the client learns nothing of the bug
        with transaction(session_factory(open_database(settings.database_url))) as session:
            _, monitor = create_key(session, "prometheus", "monitor")
        metrics = client.get("/metrics", headers={"Authorization": f"Bearer {monitor}"}).text
    assert 'route="/v1/broken",status="500"' in metrics
    logged = [r.getMessage() for r in caplog.records if r.name == "secondlook.api"]
    assert any('"request_id": "req-42"' in m and '"status": 500' in m for m in logged)
    assert any("req-42" in m and "unhandled error" in m for m in logged)


def test_the_review_queue_skips_what_the_caller_cannot_review_before_its_limit(settings: Settings) -> None:
    """Items the expert uploaded or already reviewed are left out before the queue's limit: with
    more of them than the limit, the items still waiting for this expert must be listed."""
    import datetime as dt

    from serving.api.routes.reviews import QUEUE_LIMIT
    from serving.store.models import Appraisal, Review

    sessions = session_factory(open_database(settings.database_url, migrate=True))
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with transaction(sessions) as session:
        uploader, _ = create_key(session, "shop", "appraiser")
        expert, secret = create_key(session, "expert", "expert")
        for n in range(QUEUE_LIMIT + 3):
            session.add(
                Appraisal(
                    id=f"item-{n:04d}",
                    created_at=start + dt.timedelta(minutes=n),
                    created_by=uploader.id,
                    ai_state="REFER_TO_EXPERT",
                    status="awaiting_review",
                    result={},
                )
            )
        session.flush()
        for n in range(QUEUE_LIMIT + 1):  # the oldest ones: reviewed by this expert, waiting for a second
            session.add(
                Review(
                    appraisal_id=f"item-{n:04d}", reviewer_id=expert.id, stage="expert", decision="AUTHENTIC"
                )
            )
    with TestClient(create_app(settings)) as client:
        queue = client.get("/v1/review-queue", headers={"Authorization": f"Bearer {secret}"})
    assert queue.status_code == 200, queue.text
    assert [q["id"] for q in queue.json()] == [f"item-{n:04d}" for n in (QUEUE_LIMIT + 1, QUEUE_LIMIT + 2)]


def test_appraisers_get_the_verdict_without_the_reviewers_numbers_by_default(
    settings: Settings, tiny_manifest: Path
) -> None:
    """Scores, per-photo evidence and evidence maps would show someone probing the system how
    close a photo came to passing: withheld from appraisers unless the deployment says otherwise."""
    import re

    sessions = session_factory(open_database(settings.database_url, migrate=True))
    with transaction(sessions) as session:
        _, appraiser = create_key(session, "shop", "appraiser")
        _, admin = create_key(session, "ops", "admin")
    photos = item_photos(tiny_manifest)
    with TestClient(create_app(settings)) as client:
        as_appraiser = {"Authorization": f"Bearer {appraiser}"}
        upload = client.post(
            "/v1/appraisals",
            files=upload_files(photos),
            data={"views": [v for v, _ in photos]},
            headers=as_appraiser,
        )
        assert upload.status_code == 201, upload.text
        shown = upload.json()
        item = shown["id"]
        listed = client.get("/v1/appraisals", headers=as_appraiser).json()[0]
        heatmap = client.get(f"/v1/appraisals/{item}/photos/1/heatmap", headers=as_appraiser)
        full = client.get(f"/v1/appraisals/{item}", headers={"Authorization": f"Bearer {admin}"}).json()
    for body in (shown, listed):
        assert body["scores_withheld"] is True
        assert all(r["score"] is None and r["model"] for r in body["reviewers"].values())
        assert all(p["evidence"] == {} and p["heatmap_url"] is None for p in body["photos"])
        assert not any(re.search(r"\d\.\d|%", r["message"]) for r in body["reasons"]), body["reasons"]
        assert body["state"] == full["state"] and [r["code"] for r in body["reasons"]] == [
            r["code"] for r in full["reasons"]
        ]
    assert heatmap.status_code == 403 and heatmap.json()["type"].endswith("scores-withheld")
    assert full["scores_withheld"] is False
    assert all(isinstance(r["score"], float) for r in full["reviewers"].values())
    assert any(re.search(r"\d\.\d|%", r["message"]) for r in full["reasons"])  # the admin sees them


def _keys(settings: Settings) -> tuple[str, str]:
    """An appraiser's and an admin's secret on the settings' database."""
    with transaction(session_factory(open_database(settings.database_url, migrate=True))) as session:
        _, appraiser = create_key(session, "shop", "appraiser")
        _, admin = create_key(session, "ops", "admin")
    return appraiser, admin


@pytest.mark.parametrize(
    ("photo_count", "form", "status", "problem"),
    [
        (13, {}, 400, "bad-request"),  # the multipart parser's limit (app.py form_limits) stops it
        (2, {"views": ["overall", "stamp", "detail"]}, 422, "view-count"),
        (1, {"views": ["underside"]}, 422, "unknown-view"),
        (1, {"category": "umbrella"}, 422, "category"),
    ],
)
def test_a_wrong_form_is_refused_before_any_photo_is_read(
    settings: Settings, tiny_manifest: Path, photo_count: int, form: dict, status: int, problem: str
) -> None:
    appraiser, _ = _keys(settings)
    photo = item_photos(tiny_manifest)[0]
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/appraisals",
            files=upload_files([photo] * photo_count),
            data=form,
            headers={"Authorization": f"Bearer {appraiser}"},
        )
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(problem)
    assert not settings.photo_store.exists() or not any(settings.photo_store.rglob("*"))  # nothing stored


def test_an_appraisal_is_answered_stored_and_audited_as_one_typed_result(
    settings: Settings, tiny_manifest: Path
) -> None:
    from sqlalchemy import select

    from serving.api.schemas import AppraisalResult
    from serving.store.db import reading
    from serving.store.models import Appraisal, AuditEntry

    appraiser, admin = _keys(settings)
    photos = item_photos(tiny_manifest)
    with TestClient(create_app(settings)) as client:
        posted = client.post(
            "/v1/appraisals",
            files=upload_files(photos),
            data={"views": [v for v, _ in photos], "client_reference": "SKU-1", "declared_value": "900"},
            headers={"Authorization": f"Bearer {appraiser}"},
        )
        assert posted.status_code == 201, posted.text
        answer = posted.json()
        fetched = client.get(f"/v1/appraisals/{answer['id']}", headers={"Authorization": f"Bearer {admin}"})
    full = fetched.json()  # the admin's view of what the appraiser got without the scores
    assert answer["scores_withheld"] is True and full["scores_withheld"] is False
    same = ("id", "state", "provisional", "status", "condition", "created_at", "client_reference")
    assert {k: full[k] for k in same} == {k: answer[k] for k in same}
    assert [p["sha256"] for p in full["photos"]] == [p["sha256"] for p in answer["photos"]]
    assert answer["client_reference"] == "SKU-1" and answer["declared_value"] == 900.0
    assert [p["view"] for p in answer["photos"]] == [v for v, _ in photos]
    with reading(session_factory(open_database(settings.database_url))) as session:
        row = session.get(Appraisal, answer["id"])
        stored = AppraisalResult.model_validate(row.result)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.subject == answer["id"])).one()
        photo_rows = [(p.position, p.sha256, p.view_given, p.dhash is not None) for p in row.photos]
    assert stored.state == answer["state"] == row.ai_state
    assert [r.code for r in stored.reasons] == [r["code"] for r in answer["reasons"]]
    digests = [p["sha256"] for p in answer["photos"]]
    views = [v for v, _ in photos]
    expected = zip(range(1, len(views) + 1), digests, views, [True] * len(views), strict=True)
    assert photo_rows == list(expected)
    assert entry.action == "appraisal.created"
    assert json.loads(entry.payload)["photos"] == digests


def test_the_cli_prints_the_same_typed_result_as_the_api(
    settings: Settings, tiny_manifest: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from secondlook.cli import cli
    from serving.api.schemas import AppraisalResult

    photos = item_photos(tiny_manifest)
    files = []
    for i, (_, data) in enumerate(photos):
        files.append(tmp_path / f"p{i}.jpg")
        files[-1].write_bytes(data)
    env = {
        "SECONDLOOK_MODELS_DIR": str(settings.models_dir),
        "SECONDLOOK_POLICY_PATH": str(settings.policy_path),
        "SECONDLOOK_DATABASE_URL": settings.database_url,
    }
    views = [arg for v, _ in photos for arg in ("--view", v)]
    result = CliRunner().invoke(cli, ["appraise", *map(str, files), *views, "--json"], env=env)
    assert result.exit_code == 0, result.output
    printed = AppraisalResult.model_validate_json(result.output)
    assert printed.id == "local" and [p.view for p in printed.photos] == [v for v, _ in photos]
    assert set(printed.reviewers) == {"reviewer_a", "reviewer_b"}
