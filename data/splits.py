"""Deterministic train/val/test assignment by item, so no item straddles two splits."""

from __future__ import annotations

import hashlib

from secondlook.errors import InputError

DEFAULT_FRACTIONS: tuple[float, float, float] = (0.7, 0.15, 0.15)


def check_fractions(fractions: tuple[float, ...]) -> tuple[float, float, float]:
    """The (train, val, test) shares if they are three non-negative numbers summing to 1."""
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise InputError(f"split fractions must be three non-negative shares that sum to 1, got {fractions}")
    return (fractions[0], fractions[1], fractions[2])


def split_for_item(
    item_id: str,
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    namespace: str = "",
) -> str:
    """'train', 'val' or 'test' from a hash of (namespace, seed, item_id): stable across runs
    and machines.

    A different seed gives a different partition, which is how the two reviewers get
    different train/validation splits of the same data. A different `namespace` gives a
    partition independent of every partition of another namespace, whatever the seeds: a
    reviewer's own split of the benchmark's training items must not depend on how the
    benchmark itself was split (with equal seeds, every item the benchmark put in `train`
    would land in the reviewer's `train` too, and its validation set would be empty).
    """
    check_fractions(fractions)
    digest = hashlib.sha256(f"{namespace}{seed}:{item_id}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < fractions[0]:
        return "train"
    if position < fractions[0] + fractions[1]:
        return "val"
    return "test"
