"""The shipped reviewers in PyTorch eager vs onnxruntime FP32 vs onnxruntime INT8, batch 1 and 16.

All variants get the same preprocessed test photos and the same threads (one per core); they
alternate in blocks of calls, so that machine noise falls on all of them alike, and each
block starts with an untimed call (one runtime's threads must not be timed against the
previous one's). Accuracy: the view
(every photo has one) and the per-photo counterfeit evidence at 0.5, against the manifest.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.context import REVIEWERS, BenchContext
from bench.result import Goal, ScenarioResult, latency_summary
from data.decode import decode_image
from serving.bundle import Bundle
from serving.preprocess import preprocess
from serving.tasks import EVIDENCE, VIEW

BATCHES = (1, 16)
BLOCK = 5  # timed calls in a row per variant; variants alternate block by block


def _eager(checkpoint: Path, threads: int) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    import torch

    from training.evaluate import load_reviewer

    torch.set_num_threads(threads)
    model, _ = load_reviewer(checkpoint)

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {k: v.float().numpy() for k, v in model(torch.from_numpy(batch)).items()}

    return run


def _accuracy(
    outputs: dict[str, np.ndarray], temperature: float, views: list[str], cues: np.ndarray, classes
):
    from serving.probabilities import sigmoid

    predicted_views = [classes[i] for i in outputs[VIEW].argmax(1)]
    evidence = sigmoid(outputs[EVIDENCE].reshape(-1) / temperature) >= 0.5
    return {
        "view_accuracy": float(np.mean([p == v for p, v in zip(predicted_views, views, strict=True)])),
        "evidence_accuracy": float(np.mean(evidence.astype(int) == cues)),
    }


def run(context: BenchContext) -> ScenarioResult:
    from data.taxonomy import load_taxonomy
    from serving.bundle import usable_cores
    from training.quantize import calibration_batches, int8_variant

    settings, threads = context.settings, usable_cores()
    paths, views, cues = context.test_photos(settings.photos)
    images = [decode_image(p) for p in paths]
    view_classes = load_taxonomy().classes(VIEW)
    rows, goals, notes = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for name in REVIEWERS:
            fp32 = Bundle(context.bundles[name], threads=threads)
            photos = np.stack([preprocess(image, fp32.spec) for image in images])
            calibration = calibration_batches(context.manifest, fp32, min(64, settings.photos * 2), "val")
            int8 = int8_variant(fp32, calibration, Path(scratch) / name)
            variants = {
                "pytorch eager": _eager(context.checkpoints[name], threads),
                "onnxruntime fp32": fp32.run,
                "onnxruntime int8": int8.run,
            }
            temperature = fp32.temperatures.get(EVIDENCE, 1.0)
            accuracy = {
                key: _accuracy(call(photos), temperature, views, cues, view_classes)
                for key, call in variants.items()
            }
            figures: dict[tuple[str, int], dict[str, float]] = {}
            for size in BATCHES:
                batch = np.ascontiguousarray(np.resize(photos, (size, *photos.shape[1:])))
                times: dict[str, list[float]] = {key: [] for key in variants}
                for _ in range(max(1, settings.repeats // BLOCK)):
                    for key, call in variants.items():
                        call(batch)  # untimed: lets the previous runtime's threads go idle
                        for _ in range(min(BLOCK, settings.repeats)):
                            started = time.perf_counter()
                            call(batch)
                            times[key].append(time.perf_counter() - started)
                for key, seconds in times.items():
                    figures[key, size] = latency_summary(seconds, size)
                    rows.append(
                        {
                            "reviewer": name,
                            "variant": key,
                            "batch": size,
                            "p50_ms": figures[key, size]["p50_ms"],
                            "p95_ms": figures[key, size]["p95_ms"],
                            "photos_per_s": figures[key, size]["per_second"],
                            **accuracy[key],
                        }
                    )
            for size in BATCHES:
                eager, ort, q = (figures[k, size]["p50_ms"] for k in variants)
                goals.append(Goal.at_least(f"{name} onnxruntime vs eager, batch {size}", eager / ort, 3.0))
                goals.append(Goal.at_least(f"{name} int8 vs fp32, batch {size}", ort / q, 1.5))
            loss = 100 * max(
                accuracy["onnxruntime fp32"][m] - accuracy["onnxruntime int8"][m]
                for m in ("view_accuracy", "evidence_accuracy")
            )
            goals.append(Goal.at_most(f"{name} int8 accuracy loss", loss, 0.3, " pp"))
    notes.append(
        f"{len(paths)} test photos, {threads} threads for every variant, alternating blocks of {BLOCK} calls"
    )
    return ScenarioResult("inference", rows, goals, notes)
