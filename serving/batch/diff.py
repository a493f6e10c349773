"""What changed between two rescore runs: verdict transitions and the items behind them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from serving.batch.output import read_run


@dataclass
class RunDiff:
    transitions: pd.DataFrame  # before, after, items (every pair seen, unchanged ones included)
    changed: pd.DataFrame  # item_id, before, after, score_<reviewer>_before/_after
    only_old: int  # items scored in the old run only
    only_new: int

    def markdown(self, old: str, new: str) -> str:
        moved = self.transitions[self.transitions["before"] != self.transitions["after"]]
        lines = [
            f"# Rescore diff: {old} -> {new}",
            "",
            f"{len(self.changed)} item(s) changed verdict; {self.only_old} only in the old run, "
            f"{self.only_new} only in the new one.",
            "",
            "| before | after | items |",
            "|---|---|---:|",
            *(f"| {r.before} | {r.after} | {r.items} |" for r in self.transitions.itertuples()),
        ]
        if len(moved):
            score_columns = [c for c in self.changed.columns if c.startswith("score_")]
            lines += [
                "",
                "## Changed items",
                "",
                "| item | before | after | " + " | ".join(score_columns) + " |",
            ]
            lines.append("|---|---|---|" + "---:|" * len(score_columns))
            for row in self.changed.itertuples(index=False):
                scores = " | ".join(f"{getattr(row, c):.4f}" for c in score_columns)
                lines.append(f"| {row.item_id} | {row.before} | {row.after} | {scores} |")
        return "\n".join(lines) + "\n"


def diff_runs(old: str | Path, new: str | Path) -> RunDiff:
    before, after = read_run(old), read_run(new)
    scores = sorted({c for c in before.columns if c.startswith("score_")} & set(after.columns))
    keep = ["item_id", "state", *scores]
    joined = before[keep].merge(after[keep], on="item_id", how="inner", suffixes=("_before", "_after"))
    joined = joined.rename(columns={"state_before": "before", "state_after": "after"})
    transitions = (
        joined.groupby(["before", "after"]).size().rename("items").reset_index()
        if len(joined)
        else pd.DataFrame(columns=["before", "after", "items"])
    )
    changed = joined[joined["before"] != joined["after"]]
    ordered = ["item_id", "before", "after", *(f"{s}_{w}" for s in scores for w in ("before", "after"))]
    return RunDiff(
        transitions.sort_values(["before", "after"]).reset_index(drop=True),
        changed[ordered].sort_values("item_id").reset_index(drop=True),
        int((~before["item_id"].isin(after["item_id"])).sum()),
        int((~after["item_id"].isin(before["item_id"])).sum()),
    )
