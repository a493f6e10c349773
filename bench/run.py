"""Run scenarios, print a table each, write `<scenario>.json` and `summary.json` (atomically)."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench.context import BenchContext, machine
from bench.result import ScenarioResult
from bench.scenarios import SCENARIOS
from data.atomic import atomic_write_text


def table(result: ScenarioResult) -> str:
    """The scenario's rows, its goals (met / NOT MET) and notes, as text."""
    lines = [f"== {result.name} =="]
    if result.rows:
        lines.append(pd.DataFrame(result.rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for goal in result.goals:
        state = {True: "met", False: "NOT MET", None: "not measured"}[goal.met]
        measured = "-" if goal.measured is None else f"{goal.measured:.3g}"
        lines.append(f"  goal {goal.name}: {measured} (target {goal.target}): {state}")
    lines += [f"  note: {note}" for note in result.notes]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def markdown(summary: dict[str, Any]) -> str:
    """The run as Markdown (what the README's Performance section shows)."""
    info = summary["machine"]
    lines = [
        f"Measured {summary['at'][:10]} on {info['cpu']}, {info['cores']} cores, "
        f"onnxruntime {info['onnxruntime']}, torch {info.get('torch')}"
        + (" (`--quick`: the figures mean nothing)" if summary["quick"] else "")
        + "."
    ]
    for record in summary["scenarios"].values():
        lines += ["", f"**{record['scenario']}**", ""]
        columns = list(record["rows"][0]) if record["rows"] else []
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(_cell(row[c]) for c in columns) + " |" for row in record["rows"]]
        for goal in record["goals"]:
            state = {True: "met", False: "**not met**", None: "not measured"}[goal["met"]]
            measured = "-" if goal["measured"] is None else _cell(float(goal["measured"]))
            lines.append(f"- {goal['name']}: {measured} (goal {goal['target']}): {state}")
        lines += [f"- {note}" for note in record["notes"]]
    return "\n".join(lines) + "\n"


def run_scenarios(
    names: Sequence[str], context: BenchContext, out: Path, echo: Callable[[str], Any] = print, **options: Any
) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "quick": context.settings.quick,
        "scenarios": {},
    }
    for name in names:
        module = importlib.import_module(f"bench.scenarios.{SCENARIOS[name]}")
        accepted = inspect.signature(module.run).parameters
        kwargs = {k: v for k, v in options.items() if k in accepted}
        result: ScenarioResult = module.run(context, **kwargs)
        echo(table(result))
        record = {**result.to_dict(), "machine": summary["machine"], "quick": context.settings.quick}
        atomic_write_text(out / f"{name}.json", json.dumps(record, indent=2, default=float) + "\n")
        summary["scenarios"][name] = record
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float) + "\n")
    atomic_write_text(out / "summary.md", markdown(json.loads(json.dumps(summary, default=float))))
    return summary
