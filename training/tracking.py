"""MLflow tracking for a training run (rank 0 only): params, per-epoch metrics, tags, artifacts.

The default is a local store in ./mlruns (an SQLite database and an artifacts folder), so
runs are recorded offline; set
`tracking.tracking_uri` (or MLFLOW_TRACKING_URI) for a server. A resumed run continues
the same MLflow run, whose id is kept in the run folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from data.atomic import file_sha256
from data.taxonomy import load_taxonomy
from training.config import TrainConfig


def git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def describe_machine() -> str:
    """The processor (or GPU) a run trained on, for model cards: timings compare only within one."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} (CUDA), {os.cpu_count()} CPU cores"
    model, flags = "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    simd = ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags) or "no AVX2"
    return f"{model}, {torch.get_num_threads()} threads ({simd})"


def default_tracking_uri(root: Path = Path("mlruns")) -> str:
    """A local store in ./mlruns: an SQLite database (MLflow's file store is deprecated) plus artifacts."""
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{root / 'mlflow.db'}"


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def use_experiment(config: TrainConfig) -> Any:
    """Point MLflow at the config's store and experiment (created on first use); returns mlflow."""
    import mlflow

    uri = config.tracking.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    if mlflow.get_experiment_by_name(config.tracking.experiment) is None:
        artifacts = None
        if uri.startswith("sqlite:///"):  # keep artifacts beside the local database
            artifacts = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
        mlflow.create_experiment(config.tracking.experiment, artifact_location=artifacts)
    mlflow.set_experiment(config.tracking.experiment)
    return mlflow


def log_artifacts(config: TrainConfig, run_name: str, paths: list[Path]) -> str:
    """A run of its own holding `paths` as artifacts (learning curves); returns its id."""
    mlflow = use_experiment(config)
    with mlflow.start_run(run_name=run_name) as run:
        mlflow.set_tag("git_sha", git_sha())
        for path in paths:
            mlflow.log_artifact(str(path))
        return run.info.run_id


def _run_exists(mlflow: Any, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        mlflow.get_run(run_id)
    except MlflowException:
        return False
    return True


class Tracker:
    def __init__(self, config: TrainConfig, run_dir: Path, enabled: bool, resume: bool) -> None:
        self.enabled = enabled
        self.log_model = config.tracking.log_model
        self.run_id: str | None = None
        if not enabled:
            return
        self.mlflow = mlflow = use_experiment(config)
        id_file = run_dir / "mlflow_run_id.txt"
        previous = id_file.read_text().strip() if resume and id_file.exists() else None
        if previous is not None and not _run_exists(mlflow, previous):
            previous = None  # resumed against another store (a new clone): a new run, not a crash
        run = mlflow.start_run(run_id=previous, run_name=None if previous else config.name)
        self.run_id = run.info.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(self.run_id + "\n")
        if previous is None:
            taxonomy = load_taxonomy()
            mlflow.log_params({k: str(v)[:500] for k, v in flatten(config.model_dump(mode="json")).items()})
            mlflow.set_tags(
                {
                    "git_sha": git_sha(),
                    "data_manifest_sha256": file_sha256(Path(config.data.manifest)),
                    "taxonomy_version": taxonomy.version,
                    "taxonomy_hash": taxonomy.content_hash,
                    "reviewer": config.name,
                }
            )

    def log_epoch(self, record: dict[str, float], epoch: int) -> None:
        if self.enabled:
            self.mlflow.log_metrics({k: float(v) for k, v in record.items() if k != "epoch"}, step=epoch)

    def finish(self, model_path: Path, calibration: dict[str, dict[str, float]]) -> None:
        if not self.enabled:
            return
        run_dir = model_path.parent
        for head, values in calibration.items():
            self.mlflow.log_metrics(
                {f"{head}_ece_before": values["ece_before"], f"{head}_ece_after": values["ece_after"]}
            )
        for name in ("config.yaml", "calibration.json", "model.safetensors"):
            if (run_dir / name).exists():
                self.mlflow.log_artifact(str(run_dir / name))
        if self.log_model:
            from training.pyfunc import log_pyfunc

            log_pyfunc(model_path)
        self.mlflow.end_run()


def write_history(path: Path, history: list[dict[str, float]]) -> None:
    """The learning curves: one row per epoch (photos seen, wall-clock seconds since the start,
    loss, every head's validation figure), for `dvc plots` and notebooks."""
    import pandas as pd

    from data.atomic import atomic_write_bytes

    atomic_write_bytes(path, pd.DataFrame(history).to_csv(index=False).encode())
