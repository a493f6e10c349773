"""What a scenario measured: rows for its table, ratios against the alternatives, and goals."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Goal:
    """A target from the benchmarks issue and whether this run met it."""

    name: str
    target: str
    measured: float | None
    met: bool | None  # None: not measured in this run

    @classmethod
    def at_least(cls, name: str, measured: float | None, minimum: float, unit: str = "x") -> Goal:
        met = None if measured is None else measured >= minimum
        return cls(name, f">= {minimum:g}{unit}", measured, met)

    @classmethod
    def at_most(cls, name: str, measured: float | None, maximum: float, unit: str = "") -> Goal:
        met = None if measured is None else measured <= maximum
        return cls(name, f"<= {maximum:g}{unit}", measured, met)


@dataclass
class ScenarioResult:
    name: str
    rows: list[dict[str, Any]]
    goals: list[Goal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "rows": self.rows,
            "goals": [asdict(g) for g in self.goals],
            "notes": self.notes,
        }


def latency_summary(seconds: list[float], items_per_call: int = 1) -> dict[str, float]:
    """p50/p95/p99 in milliseconds and throughput (items per second of busy time)."""
    ordered = sorted(seconds)

    def pct(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
        "per_second": items_per_call * len(seconds) / sum(seconds),
        "calls": len(seconds),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)
