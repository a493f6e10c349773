"""serving.repeats: repeated uploads of one item are recognised and go to an expert."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from serving.repeats import Earlier, dhash, distance, same_item, with_history
from serving.verdict import Reason, Verdict, VerdictState


def _photo(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)  # large shapes, like an item on a table
    return Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC)


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_the_hash_survives_resizing_and_recompression_and_tells_items_apart() -> None:
    original = _photo(1)
    same = [_jpeg(original, 60), original.resize((1024, 768)), _jpeg(original.resize((320, 240)), 40)]
    assert all(distance(dhash(original), dhash(copy)) <= 6 for copy in same)
    others = [dhash(_photo(seed)) for seed in range(2, 12)]
    assert min(distance(dhash(original), other) for other in others) > 6


AGREED = Verdict(VerdictState.AUTHENTIC, (Reason("reviewers_agree", "Both agree."),), True)


def test_a_retry_of_a_judged_item_goes_to_an_expert() -> None:
    hashes = [dhash(_photo(1)), dhash(_photo(2))]
    earlier = [
        Earlier("a-refer", "REFER_TO_EXPERT", (dhash(_jpeg(_photo(2), 50)),)),
        Earlier("a-other", "AUTHENTIC", (dhash(_photo(9)),)),
        Earlier("a-ref", "COUNTERFEIT", (), same_reference=True),
    ]
    linked = same_item(hashes, earlier)
    assert [e.appraisal_id for e in linked] == ["a-refer", "a-ref"]
    verdict = with_history(AGREED, linked)
    assert verdict.state is VerdictState.REFER_TO_EXPERT and not verdict.provisional
    assert verdict.reasons[-1].code == "repeated_upload" and "a-refer, a-ref" in verdict.reasons[-1].message


def test_retaking_after_unable_to_verify_is_not_a_retry() -> None:
    linked = [Earlier("a-unable", "UNABLE_TO_VERIFY", ())]
    assert with_history(AGREED, linked) is AGREED
    unable = Verdict(VerdictState.UNABLE_TO_VERIFY, (Reason("missing_view", "Add one."),))
    assert with_history(unable, [Earlier("a-refer", "REFER_TO_EXPERT", ())]) is unable
