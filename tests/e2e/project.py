"""A temporary copy of the project, to run the user's commands (make, dvc, the README's) in.

The copy holds what git tracks plus untracked files that are not ignored (what a fresh
clone of the working tree would hold) and uses this test run's virtual environment; tests
shrink params.yaml, the way a data scientist would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
TINY_PARAMS = {
    "synth": {"items": 32, "splits": "0.7,0.15,0.15", "size": 256, "seed": 0},
    "train": {"epochs": 1},
    "policy": {"target_error": 0.05},
}


def project_env(**extra: str) -> dict[str, str]:
    """The environment of a user who activated the project's virtual environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECONDLOOK_", "MLFLOW_", "DVC_"))}
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    return {**env, **extra}


def run(
    args: list[str] | str, cwd: Path, timeout: float = 600, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run a command in the copy; fail the test with its output when it fails."""
    result = subprocess.run(
        args,
        cwd=cwd,
        env=project_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=isinstance(args, str),
        executable="/bin/bash" if isinstance(args, str) else None,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{args} exited {result.returncode}\n--- stdout\n{result.stdout[-4000:]}"
            f"\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


def copy_project(dest: Path) -> Path:
    """The working tree's tracked and unignored files, committed to a fresh git repository."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # deleted but not yet committed files are listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run([*git, "init", "-q"], cwd=dest, check=True)
    subprocess.run([*git, "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


def installed_venv(project: Path) -> None:
    """`.venv` in the copy is this environment, as in a user's checkout (the README runs `make`
    and `.venv/bin/...`). `make` there must find it installed for this pyproject.toml: if it
    reinstalled, this environment's editable install would point at the copy."""
    (project / ".venv").symlink_to(VENV)
    stamp = subprocess.run(
        ["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", "-", "print-stamp"],
        cwd=project,
        input="print-stamp:\n\t@echo $(STAMP)\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not (project / stamp).exists():
        pytest.fail(f"{VENV} is not installed for this pyproject.toml by make: run `make venv` first")
