"""A run folder written so that a SIGKILL at any moment loses nothing already committed.

RUN_DIR/
  run.json              what the run is (manifest and its sha256, models); checked on --resume
  parts/part-00000.parquet   item rows; the rename of a part is its commit. Its metadata holds
                        how many manifest items it covers (rows + failures) and the last one.
  parts/errors-00000.jsonl   the failures of that part, written before the part itself
  summary.json, errors.csv   written at the end

Items are committed in manifest order, so what is done is always a prefix of the manifest:
`--resume` skips that many items and checks the last one's id.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from data.atomic import atomic_path, atomic_write_text
from secondlook.errors import InputError, MissingInput

PARTS = "parts"


class RunFolder:
    def __init__(
        self, out: Path, schema: pa.Schema, run_info: dict[str, Any], resume: bool, part_items: int = 256
    ) -> None:
        self.out, self.schema, self.part_items = out, schema, part_items
        self.parts = out / PARTS
        info_path = out / "run.json"
        if info_path.exists():
            if not resume:
                raise InputError(
                    f"{out} already holds a run: add --resume to finish it, or choose a new folder"
                )
            recorded = json.loads(info_path.read_text())
            for key in ("manifest_sha256", "models", "policy_sha256"):
                if recorded.get(key) != run_info.get(key):
                    raise InputError(
                        f"cannot resume {out}: its {key.replace('_', ' ')} differs from this run's "
                        f"({recorded.get(key)} vs {run_info.get(key)})"
                    )
        else:
            if out.exists() and any(out.iterdir()):
                raise InputError(f"{out} is not empty and holds no run: choose a new folder")
            atomic_write_text(info_path, json.dumps(run_info, indent=2, sort_keys=True))
        self.parts.mkdir(parents=True, exist_ok=True)
        for leftover in self.parts.glob(".*.tmp"):  # a part being written when the run died
            leftover.unlink()
        committed = self.committed_parts()
        numbers = {p.stem.split("-")[1] for p in committed}
        for orphan in self.parts.glob("errors-*.jsonl"):  # errors whose part never landed
            if orphan.stem.split("-")[1] not in numbers:
                orphan.unlink()
        self.next_part = len(committed)
        self.done_items, self.last_item = 0, None
        for part in committed:
            meta = pq.read_schema(part).metadata or {}
            self.done_items += int(meta[b"items"])
            self.last_item = meta[b"last_item"].decode()
        self.rows: list[dict[str, Any]] = []
        self.failures: list[dict[str, str]] = []
        self.items_in_part = 0
        self.last_in_part: str | None = None

    def committed_parts(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet"))

    def add_row(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        self._added(row["item_id"])

    def add_failure(self, item_id: str, reason: str) -> None:
        self.failures.append({"item_id": item_id, "reason": reason})
        self._added(item_id)

    def _added(self, item_id: str) -> None:
        self.items_in_part += 1
        self.last_in_part = item_id
        if self.items_in_part >= self.part_items:
            self.commit()

    def commit(self) -> None:
        """Make everything added since the last commit durable, all or nothing."""
        if not self.items_in_part:
            return
        number = f"{self.next_part:05d}"
        if self.failures:
            lines = "".join(json.dumps(f) + "\n" for f in self.failures)
            atomic_write_text(self.parts / f"errors-{number}.jsonl", lines)
        metadata = {"items": str(self.items_in_part), "last_item": str(self.last_in_part)}
        table = pa.Table.from_pylist(self.rows, schema=self.schema).replace_schema_metadata(metadata)
        with atomic_path(self.parts / f"part-{number}.parquet") as tmp:
            pq.write_table(table, tmp)
        self.done_items += self.items_in_part
        self.last_item = self.last_in_part
        self.next_part += 1
        self.rows, self.failures, self.items_in_part = [], [], 0

    def failures_so_far(self) -> list[dict[str, str]]:
        found = []
        for path in sorted(self.parts.glob("errors-*.jsonl")):
            found += [json.loads(line) for line in path.read_text().splitlines() if line]
        return found

    def finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Write errors.csv and summary.json (counts from the committed parts themselves)."""
        failures = self.failures_so_far()
        with atomic_path(self.out / "errors.csv") as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["item_id", "reason"])
            writer.writeheader()
            writer.writerows(failures)
        states = Counter(read_run(self.out, columns=["state"])["state"].tolist())
        summary = {
            **summary,
            "items": self.done_items,
            "scored": sum(states.values()),
            "errors": len(failures),
            "verdicts": dict(sorted(states.items())),
        }
        atomic_write_text(self.out / "summary.json", json.dumps(summary, indent=2, sort_keys=True))
        return summary


def read_run(run: str | Path, columns: list[str] | None = None):
    """All committed rows of a run as a pandas DataFrame."""
    parts = sorted((Path(run) / PARTS).glob("part-*.parquet"))
    if not (Path(run) / "run.json").is_file():
        raise MissingInput(f"{run} is not a rescore run folder (no run.json)")
    if not parts:
        import pandas as pd

        return pd.DataFrame(columns=columns or ["item_id", "state"])
    return pa.concat_tables([pq.read_table(p, columns=columns) for p in parts]).to_pandas()
