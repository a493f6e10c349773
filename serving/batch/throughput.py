"""Items per second of re-scoring, side by side: the engine, the models alone, a naive loop.

- engine: `run_local` end to end (stream, decode in workers, judge in batches, commit parts);
- model only: the same items decoded and prepared beforehand, only `panel.judge` timed;
- naive: one photo at a time, decoded and run through each reviewer with batch 1, then the verdict.
Used by `secondlook bench` (rescore scenario) and for the figures in the README.
"""

from __future__ import annotations

import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np

from data.decode import decode_image
from serving.batch.engine import EngineOptions, run_local
from serving.batch.items import stream_items
from serving.batch.output import RunFolder
from serving.batch.prepare import ItemPreparer, PreparedItem
from serving.batch.rows import schema
from serving.runner import ItemRequest, PreparedPhotos, ReviewerPanel


def engine_items_per_second(
    panel: ReviewerPanel, manifest: Path, items: int, options: EngineOptions
) -> float:
    with tempfile.TemporaryDirectory() as scratch:
        run = Path(scratch) / "run"
        folder = RunFolder(
            run, schema(list(panel.bundles)), {"manifest_sha256": "-"}, False, options.part_items
        )
        seconds = run_local(panel, islice(stream_items(manifest), items), folder, options)
    return items / seconds


def model_only_items_per_second(panel: ReviewerPanel, manifest: Path, items: int, batch_size: int) -> float:
    preparer = ItemPreparer.for_panel(panel)
    prepared = [preparer(item) for item in islice(stream_items(manifest), items)]
    requests = [p.request for p in prepared if isinstance(p, PreparedItem)]
    started = time.perf_counter()
    group: list[ItemRequest] = []
    for request in requests:
        group.append(request)
        if sum(len(r.photos) for r in group) >= batch_size:
            panel.judge(group, batch_size)
            group = []
    if group:
        panel.judge(group, batch_size)
    return len(requests) / (time.perf_counter() - started)


def naive_items_per_second(panel: ReviewerPanel, manifest: Path, items: int) -> float:
    """In this process, photo after photo: decode, prepare; then each photo through each reviewer
    on its own (batch 1) and the verdict."""
    started, count = time.perf_counter(), 0
    for item in islice(stream_items(manifest), items):
        photos = [panel.preparer.prepare([decode_image(path)]) for path in item.photos]
        merged = PreparedPhotos(
            {name: np.concatenate([p.tensors[name] for p in photos]) for name in panel.bundles},
            [q for p in photos for q in p.quality],
        )
        panel.judge([ItemRequest(merged, item.views, item.declared_value, item.category)], max_batch=1)
        count += 1
    return count / (time.perf_counter() - started)
