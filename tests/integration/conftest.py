"""Shared fixtures of the integration tests: a tiny generated benchmark and a smoke-trained reviewer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from data.synthetic.config import SynthConfig
from data.synthetic.generate import generate
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
