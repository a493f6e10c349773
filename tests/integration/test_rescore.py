"""`secondlook rescore` on a real tiny inventory: the API's verdicts, bad rows, SIGKILL and resume, diff."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from data.decode import decode_image
from data.manifest import read_manifest, resolve_image_path, write_manifest
from serving.batch.output import read_run

pytestmark = pytest.mark.slow


def _env(deployment: Path, policy: Path | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "SECONDLOOK_MODELS_DIR": str(deployment / "models"),
        "SECONDLOOK_POLICY_PATH": str(policy or deployment / "verdict.yaml"),
    }


def _command(manifest: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "secondlook.cli", "rescore", str(manifest), "--out", str(out), *extra]


def _rescore(deployment: Path, manifest: Path, out: Path, *extra: str, policy: Path | None = None):
    return subprocess.run(
        _command(manifest, out, "--workers", "1", *extra),
        capture_output=True,
        text=True,
        env=_env(deployment, policy),
        timeout=300,
    )


@pytest.fixture(scope="module")
def reference_run(deployment: Path, tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted run, parts of 3 items."""
    out = tmp_path_factory.mktemp("rescore") / "reference"
    result = _rescore(deployment, tiny_manifest, out, "--part-items", "3", "--batch-size", "8")
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_every_item_gets_one_row_with_the_apis_verdict(
    reference_run: Path, deployment: Path, tiny_manifest: Path
):
    from serving.api.app import load_panel
    from serving.settings import Settings

    rows = read_run(reference_run)
    frame = read_manifest(tiny_manifest)
    assert rows["item_id"].tolist() == list(dict.fromkeys(frame["item_id"]))  # manifest order, once each
    summary = json.loads((reference_run / "summary.json").read_text())
    assert summary["items"] == summary["scored"] == len(rows) and summary["errors"] == 0
    assert sum(summary["verdicts"].values()) == len(rows)
    assert len(list((reference_run / "parts").glob("part-*.parquet"))) == -(-len(rows) // 3)

    panel = load_panel(Settings(models_dir=deployment / "models", policy_path=deployment / "verdict.yaml"))
    for item_id in rows["item_id"].iloc[:3]:
        photos = frame[frame["item_id"] == item_id]
        images = [decode_image(resolve_image_path(tiny_manifest, p)) for p in photos["image_path"]]
        expected = panel.appraise(images, list(photos["view"]))
        row = rows[rows["item_id"] == item_id].iloc[0]
        assert row["state"] == expected.verdict.state.value
        assert json.loads(row["reasons"])[0]["message"] == expected.verdict.reasons[0].message
        for reviewer, score in expected.item_scores.items():
            assert abs(row[f"score_{reviewer}"] - score) < 1e-6
            assert np.allclose(
                row[f"photo_evidence_{reviewer}"], [p.evidence[reviewer] for p in expected.photos]
            )
        assert len(row["photo_sha256"]) == len(photos) and all(len(d) == 64 for d in row["photo_sha256"])


def test_bad_rows_go_to_the_errors_file_and_the_exit_code_says_so(
    deployment: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    frame = read_manifest(tiny_manifest)
    frame["image_path"] = [str(resolve_image_path(tiny_manifest, p)) for p in frame["image_path"]]
    items = list(dict.fromkeys(frame["item_id"]))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    first = frame.index[frame["item_id"] == items[0]][0]
    second = frame.index[frame["item_id"] == items[1]][0]
    third = frame.index[frame["item_id"] == items[2]][0]
    fourth = frame.index[frame["item_id"] == items[3]][0]
    frame.loc[first, "image_path"] = str(tmp_path / "gone.jpg")
    frame.loc[second, "image_path"] = str(corrupt)
    frame.loc[fourth, "image_path"] = "/dev/zero"  # never ends: read as a file, it hangs the run
    # The fifth item gets 13 photos, one more than the server takes (SECONDLOOK_MAX_PHOTOS).
    fifth = frame[frame["item_id"] == items[4]]
    many = pd.concat([fifth.iloc[[0]]] * 13, ignore_index=True)
    before, after = frame.loc[: fifth.index[0] - 1], frame.loc[fifth.index[-1] + 1 :]
    frame = pd.concat([before, many, after], ignore_index=True)
    third = frame.index[frame["item_id"] == items[2]][0]
    manifest = tmp_path / "inventory.csv"
    write_manifest(frame, manifest)
    raw = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    raw.loc[third, "view"] = "sole"  # not a view of the taxonomy
    raw.to_csv(manifest, index=False)

    result = _rescore(deployment, manifest, tmp_path / "run")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "5 item(s) could not be scored" in result.stderr and "Traceback" not in result.stderr
    errors = pd.read_csv(tmp_path / "run" / "errors.csv")
    reasons = dict(zip(errors["item_id"], errors["reason"], strict=True))
    assert set(reasons) == set(items[:5])
    assert "missing" in reasons[items[0]] and "gone.jpg" in reasons[items[0]]
    assert "corrupt.jpg" in reasons[items[1]]
    assert "unknown view sole" in reasons[items[2]]
    assert "/dev/zero: not a regular file" in reasons[items[3]]
    assert "13 photos; at most 12 per item" in reasons[items[4]]
    assert read_run(tmp_path / "run")["item_id"].tolist() == items[5:]


def _parts(run: Path) -> int:
    return len(list((run / "parts").glob("part-*.parquet")))


@pytest.mark.parametrize("kill_after_parts", [0, 1, 3])
def test_a_run_killed_at_any_point_resumes_to_the_same_result(
    reference_run: Path, deployment: Path, tiny_manifest: Path, tmp_path: Path, kill_after_parts: int
) -> None:
    out = tmp_path / "run"
    command = _command(tiny_manifest, out, "--workers", "1", "--part-items", "1", "--batch-size", "4")
    victim = subprocess.Popen(
        command, env=_env(deployment), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and victim.poll() is None:
        if (out / "run.json").exists() and _parts(out) >= kill_after_parts:
            break
        time.sleep(0.01)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert victim.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    committed = _parts(out)

    again = _rescore(deployment, tiny_manifest, out)
    assert again.returncode == 1 and "add --resume" in again.stderr  # never silently mixed
    resumed = _rescore(deployment, tiny_manifest, out, "--resume", "--batch-size", "8")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert _parts(out) > committed or committed == len(read_run(reference_run))

    expected, got = read_run(reference_run), read_run(out)
    assert got["item_id"].tolist() == expected["item_id"].tolist()  # exactly one row per item
    assert got["state"].tolist() == expected["state"].tolist()
    for column in [c for c in expected.columns if c.startswith("score_")]:
        assert np.abs(got[column].to_numpy() - expected[column].to_numpy()).max() <= 1e-6
    assert list(out.glob("parts/.*.tmp")) == []


def test_diff_counts_transitions_and_lists_changed_items(
    reference_run: Path, deployment: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    policy = yaml.safe_load((deployment / "verdict.yaml").read_text())
    for reviewer in policy["reviewers"].values():
        reviewer.update(authentic_at=0.98, counterfeit_at=0.99)  # nearly everything looks authentic now
    # The smoke reviewers see every view at about 25%: from 20% on, what they see counts over
    # the manifest's tags (serving.verdict.seen_view), so verdicts move.
    policy["min_view_confidence"] = 0.2
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(yaml.safe_dump(policy))
    new = tmp_path / "new"
    result = _rescore(deployment, tiny_manifest, new, policy=lenient)
    assert result.returncode == 0, result.stderr

    diff = subprocess.run(
        [sys.executable, "-m", "secondlook.cli", "rescore", "diff", str(reference_run), str(new)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert diff.returncode == 0, diff.stderr
    before, after = read_run(reference_run), read_run(new)
    moved = (before["state"] != after["state"]).sum()
    assert moved > 0
    assert f"{moved} item(s) changed verdict" in diff.stdout
    transitions = pd.read_csv(new / "diff" / "transitions.csv")
    assert transitions["items"].sum() == len(before)
    changed = pd.read_csv(new / "diff" / "changed.csv")
    assert len(changed) == moved and set(changed["after"]) <= {
        "AUTHENTIC",
        "UNABLE_TO_VERIFY",
        "REFER_TO_EXPERT",
    }
    assert {"score_reviewer_a_before", "score_reviewer_a_after"} <= set(changed.columns)


def test_a_missing_manifest_or_a_foreign_folder_is_one_line(deployment: Path, tmp_path: Path) -> None:
    missing = _rescore(deployment, tmp_path / "nope.csv", tmp_path / "run")
    assert (
        missing.returncode == 1 and "does not exist" in missing.stderr and "Traceback" not in missing.stderr
    )
    shutil.copytree(deployment / "models", tmp_path / "not-a-run")
    diff = subprocess.run(
        [
            sys.executable,
            "-m",
            "secondlook.cli",
            "rescore",
            "diff",
            str(tmp_path / "not-a-run"),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert diff.returncode == 1 and "not a rescore run folder" in diff.stderr


def test_the_ray_engine_gives_the_local_engines_results(
    reference_run: Path, deployment: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="Ray is the optional `distributed` extra")
    out = tmp_path / "ray"
    result = _rescore(
        deployment, tiny_manifest, out, "--engine", "ray", "--workers", "2", "--part-items", "4"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected, got = read_run(reference_run), read_run(out)
    assert got["item_id"].tolist() == expected["item_id"].tolist()
    assert got["state"].tolist() == expected["state"].tolist()
    assert got["reasons"].tolist() == expected["reasons"].tolist()
    for column in [c for c in expected.columns if c.startswith("score_")]:
        assert np.abs(got[column].to_numpy() - expected[column].to_numpy()).max() <= 1e-6


def test_without_ray_the_ray_engine_says_how_to_install_it(
    deployment: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "no-ray" / "ray"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no ray here')\n")
    env = {**_env(deployment), "PYTHONPATH": str(blocker.parent)}
    result = subprocess.run(
        _command(tiny_manifest, tmp_path / "run", "--engine", "ray"), capture_output=True, text=True, env=env
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "pip install 'secondlook[distributed]'" in result.stderr
