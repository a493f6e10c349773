"""Content-addressed photo store: photos/<aa>/<sha256>, written once (temp, fsync, rename)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from data.atomic import atomic_write_bytes


class PhotoStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("not a sha256 digest")
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store `data` (once per content) and return its sha256."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if not target.exists():
            atomic_write_bytes(target, data)
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()
