"""Checkpoints: weights in safetensors, training state through `torch.load(weights_only=True)`.

Nothing is ever unpickled from a checkpoint. A run folder holds:
- checkpoints/epoch_NNN.safetensors (+ _ema) and epoch_NNN.state.pt (optimiser, scheduler, history)
- model.safetensors: the final (best, calibrated) weights with their metadata as JSON
  in the safetensors header: config, taxonomy, preprocess spec, temperatures, metrics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file

from data.atomic import atomic_path
from secondlook.errors import InputError

METADATA_KEY = "secondlook"
# What `training.evaluate.load_reviewer` can rebuild. 2: category head, item-level condition,
# frozen levels. 3: evidence read by one head per counterfeit cue. 4: the condition head
# centres its inputs (`OrdinalHead.center`), set when it is refitted after training.
CHECKPOINT_FORMAT_VERSION = 4


def save_weights(path: Path, state: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    header = {METADATA_KEY: json.dumps(metadata)} if metadata is not None else None
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def read_metadata(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
    if METADATA_KEY not in header:
        raise InputError(f"{path}: not a secondlook model (no metadata)")
    return json.loads(header[METADATA_KEY])


def specialist_views(metadata: dict[str, Any]) -> list[str] | None:
    """The views a checkpoint was trained on when it is a view specialist (`data.views`), else None."""
    return metadata["config"]["data"].get("views") or None


def save_state(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_state(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


def epoch_paths(run_dir: Path, epoch: int) -> tuple[Path, Path, Path]:
    base = run_dir / "checkpoints" / f"epoch_{epoch:03d}"
    return (
        base.with_suffix(".safetensors"),
        base.parent / f"{base.name}_ema.safetensors",
        base.with_suffix(".state.pt"),
    )


def latest_epoch(run_dir: Path) -> int | None:
    """The last epoch whose weights and state are both complete on disk."""
    epochs = []
    for path in (run_dir / "checkpoints").glob("epoch_*.state.pt"):
        epoch = int(path.name.split("_")[1].split(".")[0])
        if epoch_paths(run_dir, epoch)[0].exists():
            epochs.append(epoch)
    return max(epochs) if epochs else None


def save_epoch(
    run_dir: Path,
    epoch: int,
    weights: dict[str, torch.Tensor],
    ema_weights: dict[str, torch.Tensor] | None,
    state: dict[str, Any],
) -> None:
    """One epoch's checkpoint (see `epoch_paths`): its weights, its EMA weights if the run keeps
    an EMA, then its training state (optimiser, scheduler, history)."""
    weights_path, ema_path, state_path = epoch_paths(run_dir, epoch)
    save_weights(weights_path, weights)
    if ema_weights is not None:
        save_weights(ema_path, ema_weights)
    save_state(state_path, state)
