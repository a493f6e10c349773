"""Micro-batching for the API: concurrent uploads share onnxruntime batches.

Each request decodes and prepares its photos in its own thread; one inference thread then
judges whatever items are waiting, all together (`ReviewerPanel.judge`, at most
`max_photos` photos per call). Under load this gives the reviewers the batches they are fast
at, and inference never runs several times at once on the same cores (which oversubscribes
onnxruntime's threads and stretches tail latency). A lone request waits for nothing: the
thread takes what is queued and does not hold the batch open for more.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from PIL import Image

from serving.runner import ItemRequest, PanelResult, ReviewerPanel, with_total_ms


@dataclass
class _Job:
    request: ItemRequest
    future: Future[PanelResult]
    queued: float


class MicroBatcher:
    def __init__(self, panel: ReviewerPanel, max_photos: int = 64) -> None:
        self.panel = panel
        self.max_photos = max_photos
        self.batches = 0  # judge calls so far (tests and metrics)
        self.items = 0
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> MicroBatcher:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="micro-batcher", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def submit(
        self,
        images: Sequence[Image.Image],
        views: Sequence[str | None],
        declared_value: float | None = None,
        category: str | None = None,
    ) -> Future[PanelResult]:
        """Prepare the photos in the calling thread and queue the item for the next batch."""
        request = self.panel.request(images, views, declared_value, category)
        future: Future[PanelResult] = Future()
        self._queue.put(_Job(request, future, time.perf_counter()))
        return future

    def appraise(
        self,
        images: Sequence[Image.Image],
        views: Sequence[str | None],
        declared_value: float | None = None,
        category: str | None = None,
    ) -> PanelResult:
        """What `ReviewerPanel.appraise` gives, judged together with concurrent requests."""
        started = time.perf_counter()
        appraisal = self.submit(images, views, declared_value, category).result()
        return with_total_ms(appraisal, started)

    def _take(self, first: _Job) -> list[_Job]:
        jobs, photos = [first], len(first.request.photos)
        while photos < self.max_photos:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:  # closing: finish this batch first
                self._queue.put(None)
                break
            jobs.append(job)
            photos += len(job.request.photos)
        return jobs

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = self._take(first)
            started = time.perf_counter()
            try:
                appraisals = self.panel.judge([job.request for job in jobs], self.max_photos)
            except Exception as exc:  # every waiting request gets the error, the thread goes on
                for job in jobs:
                    job.future.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(jobs)
            for job, appraisal in zip(jobs, appraisals, strict=True):
                waited = 1000 * (started - job.queued)
                appraisal.timings_ms = {**appraisal.timings_ms, "queue_ms": waited}
                job.future.set_result(appraisal)
