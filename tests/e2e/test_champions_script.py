"""`make champions` end to end on a tiny training benchmark, in a copy of the project: both
champion profiles train (side by side, resumable), then `ship` exports them, scores them on
held-out renders (40 items here instead of 2,000), fits the policy and writes models/."""

from __future__ import annotations

import json

import pytest

from tests.e2e.project import VENV, copy_project, installed_venv, run

pytestmark = pytest.mark.slow


def test_make_champions_trains_and_ships_both_reviewers(tmp_path) -> None:
    project = copy_project(tmp_path / "project")
    installed_venv(project)
    shipped = json.loads((project / "models/registry.json").read_text())["models"]
    synth = (
        "secondlook data synth --out data/synth_champion --items 60 --seed 5 --splits 0.9,0.05,0.05 --quiet"
    )
    run(synth, project)
    env = {"HELDOUT_ITEMS": "40", "VERSION": "tiny"}
    run(["make", "-o", "venv", "champions", f"VENV={VENV}"], project, timeout=1500, **env)
    for name in ("reviewer_a", "reviewer_b"):
        log = (project / f"runs/{name}_champion/train.log").read_text()
        assert f"{name}_champion epoch 1/8: loss" in log
        record = json.loads((project / f"models/{name}/tiny/champion.json").read_text())
        assert record["training"]["data"]["seed"] == 5 and record["heldout"]["seed"] == 3701
        assert (project / f"models/{name}/tiny/card.md").read_text().startswith(f"# Champion: {name} tiny")
        assert not (project / f"models/{name}/{shipped[name]['champion']}").exists()  # replaced
        assert record["heldout"]["pixels"]["view"] > record["heldout"]["majority_class"]["view"]
    registry = json.loads((project / "models/registry.json").read_text())
    assert registry["models"]["reviewer_a"]["champion"] == "tiny"
    assert (project / "models/policy.yaml").is_file()
    # A second run trains nothing more and ships again from what is on disk.
    again = run(["make", "-o", "venv", "champions", f"VENV={VENV}"], project, timeout=900, **env)
    assert "shipped: models/reviewer_b/tiny" in again.stdout
