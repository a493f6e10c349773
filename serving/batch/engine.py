"""The local engine: worker processes decode while this process runs the reviewers.

Memory stays bounded whatever the inventory's size: the manifest is streamed, at most
`window` items are being prepared at once, and rows are committed every `part_items` items.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from secondlook.errors import InputError
from serving.batch.items import InventoryItem
from serving.batch.output import RunFolder
from serving.batch.prepare import ItemFailure, ItemPreparer, PreparedItem, init_worker, prepare_in_worker
from serving.batch.rows import judged_rows
from serving.bundle import usable_cores
from serving.runner import ReviewerPanel


def share_cores(workers: int | None, inference_threads: int | None) -> tuple[int, int]:
    """Decoding processes and onnxruntime threads for this machine's cores: by default a
    quarter of the cores decode and the rest infer. Over-subscribing them is slower than
    decoding in this process (measured: 2 cores, one worker, 0.68x of the models alone)."""
    cores = usable_cores()
    workers = cores // 4 if workers is None else workers
    return workers, inference_threads or max(1, cores - workers)


@dataclass(frozen=True)
class EngineOptions:
    workers: int = 1  # decoding processes; 0 decodes in this process
    batch_size: int = 32  # photos per onnxruntime call
    part_items: int = 256  # items per committed Parquet part (see RunFolder)


def prepared_items(
    items: Iterable[InventoryItem], preparer: ItemPreparer, workers: int
) -> Iterator[PreparedItem | ItemFailure]:
    """Each item prepared, in manifest order; with workers, several at once in other processes."""
    if workers <= 0:
        yield from map(preparer, items)
        return
    # spawn: the workers must not inherit onnxruntime's threads from this process
    context = multiprocessing.get_context("spawn")
    window = 4 * workers
    with context.Pool(workers, initializer=init_worker, initargs=(preparer,)) as pool:
        pending: deque = deque()
        for item in items:
            pending.append(pool.apply_async(prepare_in_worker, (item,)))
            if len(pending) >= window:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def _batches(
    results: Iterator[PreparedItem | ItemFailure], photos_per_batch: int, part_items: int
) -> Iterator[list[PreparedItem | ItemFailure]]:
    """Groups of results holding about `photos_per_batch` photos and at most `part_items` items."""
    group: list[PreparedItem | ItemFailure] = []
    photos = 0
    for result in results:
        group.append(result)
        if isinstance(result, PreparedItem):
            photos += len(result.request.photos)
        if photos >= photos_per_batch or len(group) >= part_items:
            yield group
            group, photos = [], 0
    if group:
        yield group


def run_local(
    panel: ReviewerPanel,
    items: Iterable[InventoryItem],
    folder: RunFolder,
    options: EngineOptions,
    on_items: Callable[[int], None] = lambda n: None,
) -> float:
    """Score every item into `folder`; returns the seconds spent."""
    started = time.perf_counter()
    results = prepared_items(items, ItemPreparer.for_panel(panel), options.workers)
    for group in _batches(results, options.batch_size, options.part_items):
        for outcome in judged_rows(panel, group, options.batch_size):
            if isinstance(outcome, ItemFailure):
                folder.add_failure(outcome.item.item_id, outcome.reason)
            else:
                folder.add_row(outcome)
        on_items(len(group))
    folder.commit()
    return time.perf_counter() - started


def skip_done(items: Iterable[InventoryItem], folder: RunFolder) -> Iterator[InventoryItem]:
    """The items not yet committed: all but the first `folder.done_items` (checked by id)."""
    iterator = iter(items)
    if folder.done_items:
        skipped, last = 0, None
        for item in islice(iterator, folder.done_items):  # one at a time: memory stays bounded
            skipped, last = skipped + 1, item.item_id
        if skipped < folder.done_items or last != folder.last_item:
            raise InputError(
                f"cannot resume {folder.out}: its committed items do not match the manifest's first "
                f"{folder.done_items} items (was the manifest changed?)"
            )
    return iterator
