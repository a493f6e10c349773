"""`secondlook bench --quick`: every scenario runs and writes its JSON. No timing is asserted:
these machines are noisy, and quick sizes make the figures meaningless anyway."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from bench.scenarios import SCENARIOS

pytestmark = pytest.mark.slow


def _bench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secondlook.cli", "bench", *args],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=cwd,
    )


def _demo_options(out: Path, deployment: Path, smoke_run, manifest: Path, store: Path) -> list[str]:
    """The tiny demo's artifacts for every scenario: both reviewers from the smoke run's checkpoint."""
    checkpoint = smoke_run[0] / "model.safetensors"
    return [
        "--out", str(out),
        "--manifest", str(manifest),
        "--models-dir", str(deployment / "models"),
        "--checkpoint", f"reviewer_a={checkpoint}",
        "--checkpoint", f"reviewer_b={checkpoint}",
        "--tracking-uri", f"sqlite:///{store}",
    ]  # fmt: skip


def test_quick_run_of_every_scenario_writes_tables_and_json(deployment, smoke_run, tiny_manifest, tmp_path):
    out = tmp_path / "bench"
    result = _bench(
        "--quick", *_demo_options(out, deployment, smoke_run, tiny_manifest, smoke_run[1] / "mlflow.db")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert "| reviewer | variant | batch |" in (out / "summary.md").read_text()
    assert set(summary["scenarios"]) == set(SCENARIOS)
    assert summary["machine"]["cores"] >= 1 and summary["quick"] is True
    for name in SCENARIOS:
        record = json.loads((out / f"{name}.json").read_text())
        assert record["rows"], name
        assert f"== {record['scenario']} ==" in result.stdout
        for goal in record["goals"]:
            assert goal["measured"] is not None and math.isfinite(goal["measured"]), (name, goal)
            assert ("NOT MET" if goal["met"] is False else "met") in result.stdout
    inference = json.loads((out / "inference.json").read_text())["rows"]
    assert {r["variant"] for r in inference} == {"pytorch eager", "onnxruntime fp32", "onnxruntime int8"}
    assert {r["batch"] for r in inference} == {1, 16}
    fp32 = {r["reviewer"]: r["view_accuracy"] for r in inference if r["variant"] == "onnxruntime fp32"}
    eager = {r["reviewer"]: r["view_accuracy"] for r in inference if r["variant"] == "pytorch eager"}
    assert fp32 == eager  # the same weights through both runtimes, on the same photos
    api = json.loads((out / "api.json").read_text())["rows"]
    assert {r["server"] for r in api} == {"secondlook serve", "mlflow models serve (pyfunc, 2 servers)"}
    assert all(r["errors"] == 0 and r["items_per_s"] > 0 for r in api), api


def test_missing_demo_artifacts_is_one_line(tmp_path):
    result = _bench("rescore", "--quick", "--out", str(tmp_path / "b"), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "run `make demo-train` first" in result.stderr and result.stderr.count("\n") == 1


def test_api_without_the_bundles_mlflow_runs_measures_ours_and_says_why(
    deployment, smoke_run, tiny_manifest, tmp_path
):
    """A fresh clone's store lacks the runs the shipped champions name: the comparison is left
    out with its reason, not the whole bench lost to a traceback."""
    out = tmp_path / "bench"
    result = _bench(
        "api", "--quick", *_demo_options(out, deployment, smoke_run, tiny_manifest, tmp_path / "empty.db")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((out / "api.json").read_text())
    assert {r["server"] for r in record["rows"]} == {"secondlook serve"}
    assert record["goals"] == []
    assert any(note.startswith("mlflow models serve: not measured (") for note in record["notes"]), record
