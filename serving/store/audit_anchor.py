"""The audit chain's anchor: its length and head hash, kept outside the database.

A keyed chain cannot be forged without the key, but deleting its last entries leaves a
shorter chain that still verifies. The anchor, a small JSON file written after every commit
that appends, records how long the chain was and what its head was; `secondlook audit
verify` compares the database with it, so truncation is detected. The anchor carries its own
HMAC (same key), so it cannot be rewritten without the key either.

It also records `keyed_from`, the first entry made with a key: entries before it come from
before keyed hashing and are checked as plain sha256, entries from it on only with the key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from pathlib import Path

from data.atomic import atomic_write_bytes
from secondlook.errors import SecondlookError

ANCHOR_FORMAT = 1
_LOCK = threading.Lock()  # threads of this process; fcntl.flock below serialises processes


class AnchorError(SecondlookError, ValueError):
    """An anchor file that cannot be read or whose MAC does not match."""


@dataclass(frozen=True)
class Anchor:
    entries: int  # how many entries the chain had
    head: str  # the hash of entry `entries`
    keyed_from: int  # the first entry hashed with the key


def _mac(key: bytes, entries: int, head: str, keyed_from: int) -> str:
    message = json.dumps([ANCHOR_FORMAT, entries, head, keyed_from]).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def read_anchor(path: Path, key: bytes) -> Anchor | None:
    """The anchor at `path`, None when there is none yet; AnchorError when it is not ours."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise AnchorError(f"audit anchor {path} is unreadable ({exc})") from None
    try:
        anchor = Anchor(int(data["entries"]), str(data["head"]), int(data["keyed_from"]))
        mac = str(data["mac"])
    except (KeyError, TypeError, ValueError):
        raise AnchorError(f"audit anchor {path} is not a secondlook anchor") from None
    if not hmac.compare_digest(mac, _mac(key, anchor.entries, anchor.head, anchor.keyed_from)):
        raise AnchorError(f"audit anchor {path} was altered or made with another key (MAC mismatch)")
    return anchor


def advance_anchor(path: Path, key: bytes, entries: int, head: str, first_keyed: int) -> None:
    """Record a chain of `entries` ending in `head`, unless the anchor already records a longer one.

    Called after commit, so commits that finish out of order never move the anchor back.
    `first_keyed`: the first entry the committing transaction made with the key. `keyed_from`
    is the lowest one any commit reported: the commit of entry 1 can finish after that of
    entry 2, and must still lower it (otherwise entry 1 would be checked as unkeyed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _LOCK, open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_anchor(path, key)
            keyed_from = first_keyed if current is None else min(current.keyed_from, first_keyed)
            if current is not None and current.entries >= entries:
                if keyed_from == current.keyed_from:
                    return
                entries, head = current.entries, current.head
            body = {
                "format": ANCHOR_FORMAT,
                "entries": entries,
                "head": head,
                "keyed_from": keyed_from,
                "mac": _mac(key, entries, head, keyed_from),
            }
            atomic_write_bytes(path, (json.dumps(body, indent=2) + "\n").encode())
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
