"""Repeated uploads of one item: found by perceptual hash or client reference, and sent to an expert.

An appraiser who sees a REFER_TO_EXPERT could retake and re-upload the same item, photo by
photo, until the reviewers agree. So a new appraisal is linked to the earlier ones of the
same item (the same person's client reference, or a photo whose difference hash is within a
few bits of an earlier photo's, whoever uploaded it), and when one of those earlier
appraisals got a verdict other than UNABLE_TO_VERIFY (a retake after "please retake" is the
intended flow), the new AI verdict becomes REFER_TO_EXPERT with a reason naming them.

Pure functions; the lookup of earlier photos is the route's (serving/api/routes/appraisals.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from serving.verdict import Reason, Verdict, VerdictState

HASH_SIDE = 8  # a 64-bit hash: 8 rows of 8 left-right brightness comparisons
MAX_DISTANCE = 6  # bits: re-encoded, resized or slightly recropped photos of one item stay within it


def dhash(image: Image.Image) -> str:
    """The 64-bit difference hash of a photo, as 16 hex digits: robust to resizing and JPEG."""
    grey = image.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.Resampling.BILINEAR)
    pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass(frozen=True)
class Earlier:
    """An earlier appraisal that may show the same item."""

    appraisal_id: str
    state: str  # its AI verdict
    hashes: tuple[str, ...]  # its photos' difference hashes (those it has)
    same_reference: bool = False  # the same person sent the same client reference


def same_item(hashes: Sequence[str], earlier: Iterable[Earlier]) -> list[Earlier]:
    """The earlier appraisals that share the client reference or a near-identical photo."""
    return [
        e
        for e in earlier
        if e.same_reference or any(distance(h, o) <= MAX_DISTANCE for h in hashes for o in e.hashes)
    ]


def with_history(verdict: Verdict, linked: Sequence[Earlier]) -> Verdict:
    """`verdict`, referred to an expert when the item was appraised before with a verdict.

    UNABLE_TO_VERIFY stays (the photos are still not good enough); earlier UNABLE_TO_VERIFY
    appraisals do not count (retaking is what they asked for)."""
    judged = [e for e in linked if e.state != VerdictState.UNABLE_TO_VERIFY.value]
    if not judged or verdict.state is VerdictState.UNABLE_TO_VERIFY:
        return verdict
    names = ", ".join(e.appraisal_id for e in judged[:5]) + (" and more" if len(judged) > 5 else "")
    reason = Reason(
        "repeated_upload",
        f"This item was appraised before ({names}): a repeated upload goes to an expert.",
    )
    reasons = (*verdict.reasons, reason)
    return replace(verdict, state=VerdictState.REFER_TO_EXPERT, reasons=reasons, provisional=False)
