"""`demo_project`: a copy of the project taken through `make demo-train` on tiny parameters
(see tests/e2e/project.py). Tests that use it are kept on one xdist worker (`xdist_group`),
so the pipeline runs once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.project import TINY_PARAMS, VENV, copy_project, run


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(project copy, output of `make demo-train` there) on tiny parameters."""
    project = copy_project(tmp_path_factory.mktemp("project"))
    (project / "params.yaml").write_text(yaml.safe_dump(TINY_PARAMS))
    # -o venv: use this environment as it is (never reinstall it from the copy)
    result = run(["make", "-o", "venv", "demo-train", f"VENV={VENV}"], project, timeout=1200)
    return project, result.stdout
