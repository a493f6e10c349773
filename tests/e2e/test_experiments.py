"""The dvc pipeline and `make demo` on tiny parameters, in a temporary copy of the project."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from bench.scenarios.api import stop_servers
from tests.e2e.project import VENV, project_env, run
from tests.integration.service import free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo_project")]

STATES = "AUTHENTIC|COUNTERFEIT|REFER_TO_EXPERT|UNABLE_TO_VERIFY"


def test_make_demo_train_runs_the_pipeline_and_prints_verdicts(demo_project):
    project, output = demo_project
    printed = re.findall(rf"^(\S+) \(truth: (authentic|counterfeit)\): ({STATES})", output, re.MULTILINE)
    verdicts = (project / "runs/verdicts/items.csv").read_text().splitlines()[1:]
    assert len(printed) == min(4, len(verdicts)), output[-3000:]  # DEMO_SAMPLES test items, or all
    assert {line.split(",")[0] for line in verdicts} >= {item for item, _, _ in printed}
    metrics = json.loads((project / "runs/verdicts/metrics.json").read_text())
    assert metrics["items"] == len(verdicts) > 0
    assert sum(metrics["states"].values()) == pytest.approx(1.0)
    policy = yaml.safe_load((project / "runs/policy/verdict.yaml").read_text())
    assert policy["fitted"]["data"]["split"] == "val"
    for name in ("reviewer_a", "reviewer_b"):  # its own bundles; the shipped champions stay as they are
        assert (project / "models" / name / "demo" / "model.onnx").is_file()
    assert run(["git", "status", "--porcelain", "models"], project).stdout == ""


def test_make_demo_verdicts_runs_the_shipped_champions_on_a_fresh_benchmark(demo_project):
    """No training: the champions of models/ on a benchmark of their own seed (tiny here)."""
    project, _ = demo_project
    result = run(
        ["make", "-o", "venv", "demo-verdicts", f"VENV={VENV}", "DEMO_ITEMS=24"], project, timeout=900
    )
    output = result.stdout
    printed = re.findall(rf"^(\S+) \(truth: (authentic|counterfeit)\): ({STATES})", output, re.MULTILINE)
    assert len(printed) == 4, output[-3000:]
    benchmark = json.loads((project / "data/demo-s3703-n24/benchmark.json").read_text())
    assert benchmark["config"]["seed"] == 3703 and benchmark["split_items"]["test"] == 24
    assert "(policy models/policy.yaml)" in output
    metrics = json.loads((project / "runs/demo/verdicts/metrics.json").read_text())
    assert metrics["items"] == 24 and sum(metrics["states"].values()) == pytest.approx(1.0)
    for name in ("reviewer_a", "reviewer_b"):
        assert json.loads((project / f"runs/demo/eval/{name}/metrics.json").read_text())["items"] == 24


def test_second_repro_does_nothing(demo_project):
    project, _ = demo_project
    lock = (project / "dvc.lock").read_text()
    result = run(["dvc", "repro"], project)
    assert "Running stage" not in result.stdout
    assert "Data and pipelines are up to date." in result.stdout
    assert (project / "dvc.lock").read_text() == lock


def test_metrics_and_plots_show(demo_project, tmp_path):
    project, _ = demo_project
    metrics = json.loads(run(["dvc", "metrics", "show", "--json"], project).stdout)
    workspace = json.dumps(metrics)
    for name in ("runs/verdicts/metrics.json", "runs/eval/reviewer_a/metrics.json", "coverage"):
        assert name in workspace
    run(["dvc", "plots", "show", "--out", str(tmp_path / "plots")], project)
    page = (tmp_path / "plots" / "index.html").read_text()
    assert "runs/verdicts/confusion.csv" in page and "runs/verdicts/risk_coverage.csv" in page
    assert "risk_coverage.png" in page


def test_exp_run_with_a_changed_parameter_reruns_only_what_it_affects(demo_project):
    project, _ = demo_project
    result = run(["dvc", "exp", "run", "-S", "train.epochs=2", "-n", "two-epochs"], project, timeout=1200)
    ran = set(re.findall(r"Running stage '([^']+)'", result.stdout))
    assert "synth" not in ran
    assert {"train@reviewer_a", "train@reviewer_b", "policy", "verdicts"} <= ran
    shown = run(["dvc", "exp", "show", "--json"], project).stdout
    assert "two-epochs" in shown
    assert yaml.safe_load((project / "params.yaml").read_text())["train"]["epochs"] == 2


def test_make_demo_serves_the_web_page(demo_project):
    """`make demo` (the champions' verdicts again, the benchmark kept) serves the page and prints its URL
    and a key."""
    project, _ = demo_project
    port = free_port()
    server = subprocess.Popen(
        ["make", "-o", "venv", "demo", f"VENV={VENV}", f"DEMO_PORT={port}", "DEMO_ITEMS=24"],
        cwd=project,
        env=project_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert server.poll() is None, server.stdout.read()
            time.sleep(0.5)
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        stop_servers([server])
    output = server.stdout.read()
    assert f"http://127.0.0.1:{port}/" in output
    assert re.search(r"^key \S+ \(appraiser, demo\): \S+$", output, re.MULTILINE), output


def test_notebooks_are_committed_without_outputs():
    for path in sorted(Path("notebooks").glob("*.ipynb")):
        book = json.loads(path.read_text())
        for cell in book["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, (
                    f"{path} has outputs: run scripts/strip-notebooks"
                )
                assert not re.search(r"^\s*(def|class) ", "".join(cell["source"]), re.MULTILINE), (
                    f"{path} defines a function or class: reusable code belongs in the packages"
                )


NOTEBOOKS = sorted(Path("notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_the_demo_project(notebook: Path, demo_project, tmp_path):
    """Each notebook, executed with its parameters cell pointed at the tiny project; any cell error fails."""
    import nbformat
    from nbclient import NotebookClient

    project, _ = demo_project
    parameters = {
        "MANIFEST": str(project / "data/synth/manifest.csv"),
        "OUT": str(tmp_path),
        "TRACKING_URI": f"sqlite:///{project / 'mlruns/mlflow.db'}",
        "BUNDLES": {n: str(project / "models" / n / "demo") for n in ("reviewer_a", "reviewer_b")},
        "SHEET_ITEMS": 2,
        "WORST": 2,
    }
    book = nbformat.read(notebook, as_version=4)
    (cell,) = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    names = set(re.findall(r"^([A-Z_]+) =", cell.source, re.MULTILINE))
    assert names, "the parameters cell assigns no UPPER_CASE names"
    overrides = "\n".join(f"{k} = {v!r}" for k, v in parameters.items() if k in names)
    cell.source += f"\n# injected by the test\n{overrides}\n"
    where = {"metadata": {"path": str(project / "notebooks")}}
    NotebookClient(book, timeout=300, kernel_name="python3", resources=where).execute()
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for o in outputs)
