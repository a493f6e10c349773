"""What every importer shares: the layout error, the image suffixes, and building the frame."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from data.manifest import REQUIRED_COLUMNS, normalise
from secondlook.errors import SecondlookError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
_SHOWN_ENTRIES = 12


class SourceLayoutError(SecondlookError, ValueError):
    """A dataset folder (or table) that does not have the layout its importer expects."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def describe_root(root: Path) -> str:
    """What is at `root`, in a few words, so a wrong path is obvious from the error alone."""
    if not root.exists():
        return "nothing: the path does not exist"
    if not root.is_dir():
        return "a file, not a folder"
    entries = sorted(root.iterdir(), key=lambda p: p.name)
    if not entries:
        return "an empty folder"
    names = [f"{p.name}/" if p.is_dir() else p.name for p in entries[:_SHOWN_ENTRIES]]
    more = f" ... and {len(entries) - _SHOWN_ENTRIES} more" if len(entries) > _SHOWN_ENTRIES else ""
    return ", ".join(names) + more


def layout_error(source: str, root: Path, expected: str, problem: str) -> SourceLayoutError:
    """`problem` in one line, then the expected tree sketch, then what ROOT holds."""
    sketch = "\n".join(f"    {line}" for line in expected.strip("\n").splitlines())
    return SourceLayoutError(
        f"{source}: {problem}\n  expected layout:\n{sketch}\n  found at {root}: {describe_root(root)}"
    )


def finish(rows: Iterable[dict], source: str, **attrs: int) -> pd.DataFrame:
    """Rows -> a normalised manifest frame tagged with `source`; counters go to `frame.attrs`."""
    rows = list(rows)
    frame = pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(REQUIRED_COLUMNS))
    frame["source"] = source
    frame = normalise(frame)
    frame.attrs.update(attrs)
    return frame
