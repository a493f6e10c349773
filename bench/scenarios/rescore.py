"""Re-scoring items/s: the local engine end to end vs the models alone on pre-decoded tensors vs
what a user would write first (PIL decode + PyTorch eager, one photo at a time), and how much
of the engine's time goes to decoding and preprocessing."""

from __future__ import annotations

import time
from itertools import islice

from bench.context import REVIEWERS, BenchContext
from bench.result import Goal, ScenarioResult
from serving.batch.engine import EngineOptions
from serving.batch.items import stream_items
from serving.batch.prepare import ItemPreparer
from serving.batch.throughput import (
    engine_items_per_second,
    model_only_items_per_second,
    naive_items_per_second,
)
from serving.bundle import Bundle, usable_cores
from serving.runner import ReviewerPanel
from serving.verdict import load_policy


def naive_eager_items_per_second(context: BenchContext, items: int) -> float:
    """Photo after photo: PIL opens it, the reviewer's preprocess, each reviewer in PyTorch eager."""
    import torch
    from PIL import Image

    from serving.preprocess import PreprocessSpec, preprocess
    from training.evaluate import load_reviewer

    models = {}
    for name in REVIEWERS:
        model, metadata = load_reviewer(context.checkpoints[name])
        models[name] = (model, PreprocessSpec.from_dict(metadata["preprocess"]))
    started, count = time.perf_counter(), 0
    with torch.inference_mode():
        for item in islice(stream_items(context.manifest), items):
            for path in item.photos:
                image = Image.open(path).convert("RGB")
                for model, spec in models.values():
                    model(torch.from_numpy(preprocess(image, spec)[None]))
            count += 1
    return count / (time.perf_counter() - started)


def prepare_items_per_second(panel: ReviewerPanel, context: BenchContext, items: int) -> float:
    """Decoding, quality gate and preprocessing alone, in this process."""
    preparer = ItemPreparer.for_panel(panel)
    started = time.perf_counter()
    for item in islice(stream_items(context.manifest), items):
        preparer(item)
    return items / (time.perf_counter() - started)


def run(context: BenchContext) -> ScenarioResult:
    import torch

    items = context.settings.rescore_items
    cores = usable_cores()
    workers = cores // 4  # the CLI's default
    threads = max(1, cores - workers)
    torch.set_num_threads(threads)
    panel = ReviewerPanel(
        {name: Bundle(path, threads=threads) for name, path in context.bundles.items()},
        load_policy("configs/verdict.yaml"),
    )
    options = EngineOptions(workers=workers, batch_size=32)
    rates = {
        "engine (secondlook rescore)": engine_items_per_second(panel, context.manifest, items, options),
        "models only, pre-decoded tensors": model_only_items_per_second(panel, context.manifest, items, 32),
        "naive: PIL + PyTorch eager, photo by photo": naive_eager_items_per_second(context, items),
        "onnxruntime photo by photo (batch 1)": naive_items_per_second(panel, context.manifest, items),
        "decode + preprocess alone": prepare_items_per_second(panel, context, items),
    }
    engine = rates["engine (secondlook rescore)"]
    rows = [{"how": how, "items_per_s": rate, "vs_engine": rate / engine} for how, rate in rates.items()]
    decode_share = engine / rates["decode + preprocess alone"]
    goals = [
        Goal.at_least("engine vs models only", engine / rates["models only, pre-decoded tensors"], 0.85, ""),
        Goal.at_least("engine vs naive", engine / rates["naive: PIL + PyTorch eager, photo by photo"], 5.0),
    ]
    notes = [
        f"{items} items of {context.manifest}, {workers} decoding workers, {threads} inference threads",
        f"decoding and preprocessing take {decode_share:.0%} of the engine's time "
        "(engine items/s over decode-alone items/s)",
    ]
    return ScenarioResult("rescore", rows, goals, notes)
