"""The lines a training run reports as it goes: one per epoch (loss, validation figures, speed,
ETA), and durations as a clock (`12s`, `3m05s`)."""

from __future__ import annotations

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
