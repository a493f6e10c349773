"""The lines a training run reports as it goes: one per epoch (loss, validation figures, speed,
ETA), milestones inside long stages (every tenth of an epoch or of the caching pass, so that a
log of a run of hours says how far it is), and durations as a clock (`12s`, `3m05s`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from training.evaluate import headline_keys


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def epoch_line(
    name: str, epoch: int, epochs: int, trained: dict[str, float], metrics: dict[str, float], remaining: float
) -> str:
    """Epoch `epoch` (0-based) of `epochs`: `trained` from train_one_epoch, `metrics` from
    validation_metrics, `remaining` the estimated seconds left in the run."""
    shown = ", ".join(f"{k} {metrics[k]:.3f}" for k in headline_keys())
    return (
        f"{name} epoch {epoch + 1}/{epochs}: loss {trained['train_loss']:.3f}; "
        f"val {shown}; {trained['seconds']:.0f} s ({trained['images_per_second']:.0f} photos/s), "
        f"ETA {clock(remaining)}"
    )


class Milestones:
    """Reports `done of total` each time another tenth is passed, with the stage's speed and ETA:
    what a log shows between two epoch lines of a long run (the progress bar is off there)."""

    def __init__(
        self, label: str, total: int, unit: str, report: Callable[[str], None], parts: int = 10
    ) -> None:
        self.label, self.total, self.unit, self.report, self.parts = label, total, unit, report, parts
        self.started = time.perf_counter()
        self.passed = 0

    def update(self, done: int) -> None:
        part = done * self.parts // max(self.total, 1)
        if part <= self.passed or done >= self.total:
            return
        self.passed = part
        elapsed = time.perf_counter() - self.started
        left = elapsed * (self.total - done) / max(done, 1)
        self.report(
            f"{self.label}: {done:,} of {self.total:,} {self.unit} ({done / self.total:.0%}), "
            f"{done / max(elapsed, 1e-9):.1f} {self.unit}/s, ETA {clock(left)}"
        )
