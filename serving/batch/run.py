"""`secondlook rescore`: one inventory through the current models, into a resumable run folder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from data.atomic import file_sha256
from secondlook.errors import InputError
from serving.batch.engine import EngineOptions, run_local, skip_done
from serving.batch.items import stream_items
from serving.batch.output import RunFolder
from serving.batch.rows import schema
from serving.runner import ReviewerPanel

ENGINES = ("local", "ray")


def run_info(manifest: Path, panel: ReviewerPanel, policy_path: Path) -> dict[str, Any]:
    """What the run is; a resumed run must match it (manifest, models and policy)."""
    return {
        "manifest": str(manifest.resolve()),
        "manifest_sha256": file_sha256(manifest),
        "models": panel.models,
        "policy_sha256": file_sha256(policy_path),
        "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def rescore(
    manifest: Path,
    out: Path,
    panel: ReviewerPanel,
    policy_path: Path,
    options: EngineOptions,
    resume: bool = False,
    engine: str = "local",
    on_start: Callable[[int], None] = lambda done: None,
    on_items: Callable[[int], None] = lambda n: None,
) -> dict[str, Any]:
    """Score every item of `manifest` into `out`; returns the summary written there."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    info = run_info(manifest, panel, policy_path)
    folder = RunFolder(out, schema(list(panel.bundles)), info, resume, options.part_items)
    already = folder.done_items
    on_start(already)
    remaining = skip_done(stream_items(manifest), folder)
    if engine == "ray":
        from serving.batch.ray_engine import run_ray

        seconds = run_ray(panel, remaining, folder, options, on_items)
    else:
        seconds = run_local(panel, remaining, folder, options, on_items)
    return folder.finish(
        {
            "engine": engine,
            "workers": options.workers,
            "batch_size": options.batch_size,
            "seconds_this_session": round(seconds, 3),
            "items_per_second": round((folder.done_items - already) / seconds, 2) if seconds > 0 else None,
            "models": panel.models,
        }
    )
