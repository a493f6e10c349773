"""Sanity baselines: a recipe regression fails here instead of reaching a user.

On a small benchmark, each recognition head of a reviewer trained with the demo's recipe must
beat a logistic regression on 32x32 colour pixels trained on the same photos, and the
ImageNet-initialised reviewer must beat the same network trained the same way from random
weights. Both reviewers are scored on the benchmark's test split, which neither trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data.synthetic.config import SynthConfig
from data.synthetic.generate import generate
from serving.tasks import CLASSIFICATION_TASKS
from training.baselines import pixel_baselines
from training.config import load_config
from training.evaluate import compute_metrics, predict_split
from training.train import train

pytestmark = pytest.mark.slow

RECOGNITION = CLASSIFICATION_TASKS  # view, category, hardware type and finish, stamp type


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(
        SynthConfig(items=320, seed=21, size=128, workers=1), tmp_path_factory.mktemp("base"), progress=False
    )


def reviewer_scores(manifest: Path, out: Path, pretrained: bool) -> dict[str, float]:
    config = load_config(
        "configs/train/reviewer_a.yaml",
        [
            f"data.manifest={manifest}",
            f"out_dir={out / 'run'}",
            f"tracking.tracking_uri=sqlite:///{out}/mlflow.db",
            "tracking.log_model=false",
            "preprocess.size=128",
            "train.epochs=6",
            f"model.pretrained={str(pretrained).lower()}",
        ],
    )
    run_dir = train(config, progress=False, report=lambda line: None)
    predictions, dataset, model = predict_split(run_dir / "model.safetensors", manifest, "test", workers=0)
    metrics = compute_metrics(predictions, dataset, model.temperatures)
    return {task: metrics[task]["accuracy"] for task in RECOGNITION}


def test_recognition_heads_beat_pixels_and_imagenet_beats_random_weights(
    benchmark: Path, tmp_path: Path
) -> None:
    pixels = pixel_baselines(benchmark, benchmark)
    imagenet = reviewer_scores(benchmark, tmp_path / "imagenet", pretrained=True)
    random = reviewer_scores(benchmark, tmp_path / "random", pretrained=False)
    for task in RECOGNITION:
        print(f"{task}: pixels {pixels[task]:.3f}, random {random[task]:.3f}, imagenet {imagenet[task]:.3f}")
    for task in RECOGNITION:
        # Beaten, or matched at a perfect score that nothing can beat.
        assert imagenet[task] > pixels[task] or imagenet[task] == pixels[task] == 1.0, task
    assert np.mean(list(imagenet.values())) >= np.mean(list(random.values())) + 0.1
