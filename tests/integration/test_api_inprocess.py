"""The app in process (`TestClient(create_app(settings))`): real bundles and a real SQLite
database, no server process. For what the ASGI stack does, quicker than `test_api.py`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.api.app import create_app
from serving.settings import Settings


@pytest.fixture
def settings(deployment: Path, tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        photo_store=tmp_path / "photos",
        models_dir=deployment / "models",
        policy_path=deployment / "verdict.yaml",
    )


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
        metrics = client.get("/metrics").text
    assert 'route="/v1/broken",status="500"' in metrics
    logged = [r.getMessage() for r in caplog.records if r.name == "secondlook.api"]
    assert any('"request_id": "req-42"' in m and '"status": 500' in m for m in logged)
    assert any("req-42" in m and "unhandled error" in m for m in logged)
