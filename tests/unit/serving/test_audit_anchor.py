"""The anchor file: commits that finish out of order never move it back or lose `keyed_from`."""

from __future__ import annotations

from pathlib import Path

from serving.store.audit_anchor import advance_anchor, read_anchor

KEY = b"k" * 32


def test_a_shorter_chain_never_moves_the_anchor_back(tmp_path: Path) -> None:
    path = tmp_path / "anchor.json"
    advance_anchor(path, KEY, 3, "c" * 64, first_keyed=1)
    advance_anchor(path, KEY, 2, "b" * 64, first_keyed=1)
    anchor = read_anchor(path, KEY)
    assert (anchor.entries, anchor.head, anchor.keyed_from) == (3, "c" * 64, 1)


def test_the_first_keyed_entry_committed_last_still_sets_keyed_from(tmp_path: Path) -> None:
    """Entry 2's commit writes the first anchor; entry 1's, finishing later, lowers keyed_from."""
    path = tmp_path / "anchor.json"
    advance_anchor(path, KEY, 2, "b" * 64, first_keyed=2)
    assert read_anchor(path, KEY).keyed_from == 2
    advance_anchor(path, KEY, 1, "a" * 64, first_keyed=1)
    anchor = read_anchor(path, KEY)
    assert (anchor.entries, anchor.head, anchor.keyed_from) == (2, "b" * 64, 1)
