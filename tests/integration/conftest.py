"""Shared fixtures of the integration tests: a tiny generated benchmark, a smoke-trained reviewer,
and for the end-to-end tests (test_api_*.py, test_web.py) a real server and a real browser."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from data.synthetic.config import SynthConfig
from data.synthetic.generate import generate
from tests.integration.service import CHROMIUM, CHROMIUM_ARGS, Page, running_service
from training.config import TrainConfig, load_config
from training.train import train


def _smoke_config(manifest: Path, out: Path, *extra: str) -> TrainConfig:
    return load_config(
        "configs/train/smoke.yaml",
        [
            f"data.manifest={manifest}",
            f"out_dir={out / 'run'}",
            f"tracking.tracking_uri=sqlite:///{out}/mlflow.db",
            *extra,
        ],
    )


@pytest.fixture(scope="session")
def smoke_config():
    """Builds the smoke config for a manifest and an output folder (plus `--set` overrides)."""
    return _smoke_config


@pytest.fixture(scope="session")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(
        SynthConfig(items=14, seed=3, size=128, workers=1), tmp_path_factory.mktemp("bench"), progress=False
    )


@pytest.fixture(scope="session")
def smoke_run(tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A reviewer trained by the smoke config: (run folder, folder of its MLflow store)."""
    out = tmp_path_factory.mktemp("smoke")
    return train(_smoke_config(tiny_manifest, out), progress=False), out


@pytest.fixture(scope="session")
def smoke_run_b(smoke_run, tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second smoke reviewer that sees photos at another size (80 px), as reviewer B does;
    recorded in the first one's MLflow store."""
    out = tmp_path_factory.mktemp("smoke_b")
    store = f"tracking.tracking_uri=sqlite:///{smoke_run[1]}/mlflow.db"
    config = _smoke_config(tiny_manifest, out, "preprocess.size=80", "seed=2", store)
    return train(config, progress=False, report=lambda line: None)


@pytest.fixture(scope="module")
def deployment(
    smoke_run, smoke_run_b: Path, tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A models folder with both reviewers (64 and 80 px) promoted to champion, and a policy for
    128 px photos."""
    from serving.registry import promote
    from training.export import export

    root = tmp_path_factory.mktemp("deployment")
    for name, run_dir in (("reviewer_a", smoke_run[0]), ("reviewer_b", smoke_run_b)):
        export(run_dir / "model.safetensors", root / "models" / name / "1", tiny_manifest)
        promote(name, "1", "champion", root / "models")
    policy = yaml.safe_load(Path("configs/verdict.yaml").read_text())
    policy["quality"]["min_side_px"] = 128  # the tiny benchmark's photos are 128 px
    (root / "verdict.yaml").write_text(yaml.safe_dump(policy))
    return root


@pytest.fixture
def settings(deployment: Path, tmp_path: Path):
    """Settings of an in-process app (`TestClient(create_app(settings))`): the smoke reviewers and
    a SQLite file of this test's own."""
    from serving.settings import Settings

    return Settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        photo_store=tmp_path / "photos",
        models_dir=deployment / "models",
        policy_path=deployment / "verdict.yaml",
    )


@pytest.fixture(scope="module")
def service(
    request: pytest.FixtureRequest,
    deployment: Path,
    tiny_manifest: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    """`secondlook serve` on the module's deployment (`running_service`), one per module: on a
    SQLite file, or on a fresh PostgreSQL database where the module parametrizes it, as the
    test_api_*.py modules do with `parametrize("service", ["sqlite", "postgresql"], indirect=True)`."""
    root = tmp_path_factory.mktemp("service")
    if getattr(request, "param", "sqlite") == "sqlite":
        database_url = f"sqlite:///{root / 'db.sqlite'}"
    else:
        from tests.postgres import create_database

        database_url = create_database(request.getfixturevalue("postgres_server"))
    with running_service(root, deployment, tiny_manifest, database_url) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright, one per module. Where chromium or Playwright is
    missing the tests that use it skip, unless SECONDLOOK_REQUIRE_BROWSER=1 (set by .ci/run),
    which turns the skip into a failure."""
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "Playwright for Python is not installed (pip install playwright)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no chromium at {CHROMIUM}: apt-get install chromium (or set SECONDLOOK_CHROMIUM)"
    if missing:
        if os.environ.get("SECONDLOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture()
def open_page(browser, service):
    """Opens browser tabs (`Page`) on the service: `open_page(width, height)`; closed after the test."""
    pages: list[Page] = []

    def opener(width: int = 1280, height: int = 900) -> Page:
        pages.append(Page(browser, service, width, height))
        return pages[-1]

    yield opener
    for page in pages:
        page.close()
