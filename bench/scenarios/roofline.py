"""How close the reviewers come to the machine: fp32 matmul GFLOP/s on the same threads (the
achievable peak), each model's GFLOPs per photo, and the share of the peak onnxruntime reaches
at batch 16."""

from __future__ import annotations

import time

import numpy as np

from bench.context import REVIEWERS, BenchContext
from bench.result import Goal, ScenarioResult
from data.decode import decode_image
from serving.bundle import Bundle, usable_cores
from serving.preprocess import preprocess


def _best_seconds(call, repeats: int) -> float:
    call()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best


def matmul_gflops(threads: int, size: int, repeats: int) -> dict[str, float]:
    """fp32 GEMM GFLOP/s on `threads` threads: onnxruntime's MatMul (MLAS, what the models run
    on) and torch's (oneDNN/MKL); the better one is the roofline's peak."""
    import onnx
    import onnxruntime
    import torch
    from onnx import TensorProto, helper

    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, size]) for n in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        onnx.shape_inference.infer_shapes(model).SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )
    torch.set_num_threads(threads)
    ta = torch.from_numpy(a)
    flops = 2 * size**3
    return {
        "onnxruntime": flops / _best_seconds(lambda: session.run(None, {"a": a, "b": a}), repeats) / 1e9,
        "torch": flops / _best_seconds(lambda: torch.mm(ta, ta), repeats) / 1e9,
    }


def model_gflops(context: BenchContext, name: str, size: int) -> float:
    """Forward FLOPs of one photo, counted by torch's FlopCounterMode on the eager model."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from training.evaluate import load_reviewer

    model, _ = load_reviewer(context.checkpoints[name])
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def run(context: BenchContext) -> ScenarioResult:
    settings, threads = context.settings, usable_cores()
    sizes = (256, 512) if settings.quick else (256, 512, 1024, 2048)
    by_size = {size: matmul_gflops(threads, size, settings.repeats) for size in sizes}
    gemm = {lib: max(rates[lib] for rates in by_size.values()) for lib in ("onnxruntime", "torch")}
    peak = max(gemm.values())
    paths, _, _ = context.test_photos(16)
    images = [decode_image(p) for p in paths]
    rows, goals = [], []
    for name in REVIEWERS:
        bundle = Bundle(context.bundles[name], threads=threads)
        batch = np.stack([preprocess(image, bundle.spec) for image in images])
        batch = np.ascontiguousarray(np.resize(batch, (16, *batch.shape[1:])))
        best = _best_seconds(lambda b=bundle, x=batch: b.run(x), settings.repeats)
        gflops = model_gflops(context, name, bundle.spec.size)
        achieved = gflops * 16 / best
        rows.append(
            {
                "reviewer": name,
                "input_px": bundle.spec.size,
                "gflops_per_photo": gflops,
                "photos_per_s": 16 / best,
                "achieved_gflop_s": achieved,
                "matmul_peak_gflop_s": peak,
                "share_of_peak": achieved / peak,
            }
        )
        goals.append(Goal.at_least(f"{name} share of the matmul roofline", achieved / peak, 0.5, ""))
    notes = [
        f"peak: the best fp32 matmul on {threads} threads over square sizes {', '.join(map(str, sizes))}: "
        f"onnxruntime {gemm['onnxruntime']:.0f} GFLOP/s, torch {gemm['torch']:.0f} GFLOP/s",
        "models: onnxruntime fp32, batch 16, best call; FLOPs counted by torch.utils.flop_counter "
        "(2 per multiply-add) on the eager model",
    ]
    return ScenarioResult("roofline", rows, goals, notes)
