"""The Ray engine: the same job on Ray Data, for inventories beyond one machine.

Items go through `map_batches` with a pool of actors; each actor opens the reviewers'
onnxruntime sessions once and does what the local engine does (decode, prepare, judge), so
both engines give the same rows. The driver keeps the run folder: it receives the rows in
manifest order (Ray Data's `preserve_order`) and commits them in the same parts, so
`--resume` works the same way. Connects to the cluster in RAY_ADDRESS when set, else starts
a local Ray with `workers` CPUs.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

from secondlook.errors import InputError
from serving.batch.engine import EngineOptions
from serving.batch.items import InventoryItem
from serving.batch.output import RunFolder
from serving.runner import ReviewerPanel

INSTALL = "the Ray engine needs Ray: pip install 'secondlook[distributed]' (or pip install 'ray[data]')"


def _ray():
    try:
        import ray
        import ray.data
    except ImportError:
        raise InputError(INSTALL) from None
    return ray


class _Scorer:
    """A Ray actor: one panel (onnxruntime sessions) for many batches of items."""

    def __init__(self, bundle_paths: dict[str, str], policy: Any, batch_size: int) -> None:
        from serving.batch.prepare import ItemPreparer
        from serving.bundle import Bundle

        self.panel = ReviewerPanel({n: Bundle(p) for n, p in bundle_paths.items()}, policy)
        self.preparer = ItemPreparer.for_panel(self.panel)
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from serving.batch.prepare import ItemFailure
        from serving.batch.rows import judged_rows

        results = []
        for raw in batch["item"]:
            fields = json.loads(raw)
            fields["photos"], fields["views"] = tuple(fields["photos"]), tuple(fields["views"])
            results.append(self.preparer(InventoryItem(**fields)))
        out: dict[str, list[str]] = {"item_id": [], "failure": [], "row": []}
        for result, outcome in zip(results, judged_rows(self.panel, results, self.batch_size), strict=True):
            out["item_id"].append(result.item.item_id)
            if isinstance(outcome, ItemFailure):
                out["failure"].append(outcome.reason)
                out["row"].append("")
            else:
                out["failure"].append("")
                out["row"].append(json.dumps(outcome))
        return out


def run_ray(
    panel: ReviewerPanel,
    items: Iterable[InventoryItem],
    folder: RunFolder,
    options: EngineOptions,
    on_items: Callable[[int], None] = lambda n: None,
) -> float:
    ray = _ray()
    started = time.perf_counter()
    if not ray.is_initialized():
        ray.init(
            num_cpus=None if os.environ.get("RAY_ADDRESS") else max(1, options.workers),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    bundle_paths = {name: str(Path(b.path).resolve()) for name, b in panel.bundles.items()}
    items_per_batch = max(1, options.batch_size // 4)
    iterator = iter(items)
    # Chunks of whole parts keep the driver's memory bounded and commits regular.
    while chunk := list(islice(iterator, options.part_items * 8)):
        dataset = ray.data.from_items([{"item": json.dumps(asdict(i))} for i in chunk])
        scored = dataset.map_batches(
            _Scorer,
            fn_constructor_args=(bundle_paths, panel.policy, options.batch_size),
            batch_size=items_per_batch,
            concurrency=max(1, options.workers),
            num_cpus=1,
        )
        for row in scored.iter_rows():
            if row["failure"]:
                folder.add_failure(row["item_id"], row["failure"])
            else:
                folder.add_row(json.loads(row["row"]))
            on_items(1)
    folder.commit()
    return time.perf_counter() - started
