"""The API's micro-batcher: items queued together are judged in one call, with the results
each would get alone."""

from __future__ import annotations

import threading

import pytest

from data.decode import decode_image
from serving.batcher import MicroBatcher
from serving.registry import open_bundle
from serving.runner import ReviewerPanel
from serving.verdict import load_policy
from serving.verdict_eval import manifest_items


@pytest.fixture(scope="module")
def panel(deployment) -> ReviewerPanel:
    bundles = {n: open_bundle(f"{n}@champion", deployment / "models") for n in ("reviewer_a", "reviewer_b")}
    return ReviewerPanel(bundles, load_policy(deployment / "verdict.yaml"))


def _items(manifest, count):
    items = list(manifest_items(manifest))[:count]
    return [([decode_image(p) for p in item.photos], item.views) for item in items]


def test_queued_items_are_judged_together_with_the_results_they_get_alone(panel, tiny_manifest):
    items = _items(tiny_manifest, 5)
    alone = [panel.appraise(images, views) for images, views in items]
    batcher = MicroBatcher(panel, max_photos=64)
    futures = [batcher.submit(images, views) for images, views in items]  # queued before the thread starts
    batcher.start()
    together = [f.result(timeout=60) for f in futures]
    batcher.close()
    assert batcher.batches == 1 and batcher.items == 5
    for a, b in zip(alone, together, strict=True):
        assert a.verdict.state == b.verdict.state and a.verdict.reasons == b.verdict.reasons
        assert a.item_scores == pytest.approx(b.item_scores, abs=1e-5)
        assert [p.view for p in a.photos] == [p.view for p in b.photos]
        assert b.timings_ms["queue_ms"] >= 0


def test_batches_stop_at_max_photos_and_concurrent_callers_all_get_answers(panel, tiny_manifest):
    items = _items(tiny_manifest, 6)
    batcher = MicroBatcher(panel, max_photos=len(items[0][0]))  # one item's photos per batch
    futures = [batcher.submit(images, views) for images, views in items]
    batcher.start()
    assert all(f.result(timeout=60) for f in futures)
    assert batcher.batches == 6
    results: list = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(batcher.appraise(*items[i])))
        for i in range(len(items))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    batcher.close()
    assert len(results) == len(items) and all("total_ms" in r.timings_ms for r in results)


class _FailingOnce:
    """The real panel, except that its first judge call fails (as a broken session would)."""

    def __init__(self, panel: ReviewerPanel) -> None:
        self.request, self.panel, self.failed = panel.request, panel, False

    def judge(self, items, max_batch):
        if not self.failed:
            self.failed = True
            raise RuntimeError("onnxruntime failed")
        return self.panel.judge(items, max_batch)


def test_an_inference_error_reaches_every_waiting_caller_and_the_thread_goes_on(panel, tiny_manifest):
    items = _items(tiny_manifest, 3)
    batcher = MicroBatcher(_FailingOnce(panel))
    futures = [batcher.submit(images, views) for images, views in items]
    batcher.start()
    for future in futures:
        with pytest.raises(RuntimeError, match="onnxruntime failed"):
            future.result(timeout=60)
    assert batcher.appraise(*items[0]).verdict is not None
    batcher.close()
