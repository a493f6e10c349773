"""A fresh process to its first verdict: `secondlook appraise` on one item's photos (imports,
both bundles opened, the photos decoded and judged), beside a fresh process that imports torch
and timm, loads both checkpoints and runs one forward pass (what a PyTorch service pays)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from bench.context import REVIEWERS, BenchContext
from bench.result import ScenarioResult, median

EAGER = """
import sys, torch
from training.evaluate import load_reviewer
for checkpoint in sys.argv[1:]:
    model, metadata = load_reviewer(checkpoint)
    size = metadata["preprocess"]["size"]
    with torch.inference_mode():
        model(torch.zeros(1, 3, size, size))
"""


def _seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed: {result.stderr.strip()[-500:]}")
    return elapsed


def run(context: BenchContext) -> ScenarioResult:
    from data.manifest import resolve_image_path

    first = context.first_test_item()
    photos = [str(resolve_image_path(context.manifest, p)) for p in first["image_path"]]
    views = [arg for v in first["view"] for arg in ("--view", str(v))]
    env = {
        **os.environ,
        "SECONDLOOK_REVIEWERS": json.dumps({n: str(p.resolve()) for n, p in context.bundles.items()}),
        "SECONDLOOK_POLICY_PATH": "configs/verdict.yaml",
    }
    commands = {
        "secondlook appraise (onnxruntime, first verdict)": [
            sys.executable,
            "-m",
            "secondlook.cli",
            "appraise",
            *photos,
            *views,
        ],
        "python: import torch + timm, load both checkpoints, one forward": [
            sys.executable,
            "-c",
            EAGER,
            *(str(context.checkpoints[n]) for n in REVIEWERS),
        ],
    }
    rows = []
    for how, command in commands.items():
        runs = [_seconds(command, env) for _ in range(context.settings.cold_starts)]
        rows.append({"how": how, "median_s": median(runs), "runs": len(runs)})
    notes = [f"{len(photos)} photos of item {first['item_id'].iloc[0]}; median of fresh processes"]
    return ScenarioResult("cold start", rows, [], notes)
