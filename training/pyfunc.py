"""The reviewer as an MLflow pyfunc, so that `mlflow models serve` can run a logged run.

Input: a DataFrame with a column `image` of base64-encoded photo bytes (JPEG/PNG/WebP).
Output: one row per photo with the calibrated counterfeit evidence, the predicted view,
hardware type and finish, stamp type and condition grade. The same safe decoder and the
same preprocess as serving are used; the weights and their metadata travel as the
`model` artifact (the run's model.safetensors).
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel, log_model

PYTHON_PACKAGES = ("data", "serving", "training", "secondlook")
PIP_REQUIREMENTS = ["torch", "timm", "numpy", "pandas", "pillow", "pyyaml", "pydantic", "safetensors"]


class ReviewerModel(PythonModel):
    def load_context(self, context: Any) -> None:
        from serving.preprocess import PreprocessSpec
        from training.evaluate import load_reviewer

        self.model, self.metadata = load_reviewer(Path(context.artifacts["model"]))
        self.spec = PreprocessSpec.from_dict(self.metadata["preprocess"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        import torch

        from data.decode import decode_image
        from data.taxonomy import load_taxonomy
        from serving.condition import median_grade
        from serving.preprocess import preprocess
        from serving.probabilities import ordinal_probabilities, sigmoid, softmax
        from serving.tasks import CLASSIFICATION_TASKS, EVIDENCE, ORDINAL_TASK

        images = [decode_image(base64.b64decode(value)) for value in model_input["image"]]
        batch = torch.from_numpy(np.stack([preprocess(image, self.spec) for image in images]))
        with torch.no_grad():
            out = {k: v.float().numpy() for k, v in self.model(batch).items()}
        temperatures, taxonomy = self.metadata["temperatures"], load_taxonomy()
        result = pd.DataFrame({EVIDENCE: sigmoid(out[EVIDENCE] / temperatures[EVIDENCE])})
        for task in CLASSIFICATION_TASKS:
            probs = softmax(out[task], temperatures[task])
            result[task] = [taxonomy.classes(task)[i] for i in probs.argmax(1)]
            result[f"{task}_confidence"] = probs.max(1)
        grades = median_grade(ordinal_probabilities(out[ORDINAL_TASK], temperatures[ORDINAL_TASK]))
        result[ORDINAL_TASK] = [taxonomy.classes(ORDINAL_TASK)[i] for i in grades]
        return result


def copy_sources(root: Path, into: Path) -> list[str]:
    """Copy our packages' Python files and configs/ from `root` into `into`, nothing else.

    Why not the package folders as they are: data/ also holds rendered benchmarks (data/synth,
    symlinked champion builds), and copying them made every logged model hundreds of MB
    (846 MB per champion finish) and `mlflow models serve` time out downloading it."""

    def not_source(directory: str, names: list[str]) -> list[str]:
        def keep(path: Path) -> bool:
            if path.is_symlink():
                return False
            if path.is_dir():
                return (path / "__init__.py").is_file()
            return path.suffix == ".py"

        return [name for name in names if not keep(Path(directory) / name)]

    def not_config(directory: str, names: list[str]) -> list[str]:
        return [name for name in names if (Path(directory) / name).is_symlink()]

    copied = []
    for package in PYTHON_PACKAGES:
        shutil.copytree(root / package, into / package, ignore=not_source)
        copied.append(str(into / package))
    shutil.copytree(root / "configs", into / "configs", ignore=not_config)
    copied.append(str(into / "configs"))
    return copied


def log_pyfunc(model_path: Path) -> None:
    """Log the run's model as a pyfunc named `model`, with our packages' sources as code."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="secondlook-pyfunc-") as staging:
        log_model(
            name="model",
            python_model=ReviewerModel(),
            artifacts={"model": str(model_path)},
            # configs/ travels too: the packages read taxonomy.yaml from beside them (a served
            # model has no source checkout to find it in)
            code_paths=copy_sources(root, Path(staging)),
            pip_requirements=PIP_REQUIREMENTS,
        )
