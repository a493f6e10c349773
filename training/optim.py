"""What the optimiser sees: parameter groups, the learning-rate schedule and class weights."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from serving.tasks import CLASSIFICATION_TASKS
from training.data import PhotoDataset


def lr_lambda(total_steps: int, warmup_steps: int):
    """Linear warmup then cosine decay to zero, as a factor of the base learning rate."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


# The pretrained layers: the backbone, and its trainable levels' copies when each view has its own.
BACKBONE_PARAMETERS = ("backbone.", "branches.branches.")


def parameter_groups(
    model: torch.nn.Module, weight_decay: float, lr: float, head_lr_scale: float = 1.0
) -> list[dict[str, Any]]:
    """Trainable parameters only; no weight decay on biases and normalisation parameters; the
    heads (new, randomly initialised) at `head_lr_scale` times the backbone's learning rate."""
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        head = not name.startswith(BACKBONE_PARAMETERS)
        decays = not (parameter.ndim <= 1 or name.endswith(".bias"))
        groups.setdefault((head, decays), []).append(parameter)
    return [
        {
            "params": params,
            "weight_decay": weight_decay if decays else 0.0,
            "lr": lr * (head_lr_scale if head else 1.0),
        }
        for (head, decays), params in groups.items()
    ]


def class_weights_for(dataset: PhotoDataset, device: torch.device) -> dict[str, torch.Tensor]:
    """Inverse-frequency weights per classification task (known labels only), mean 1."""
    weights = {}
    for task in CLASSIFICATION_TASKS:
        labels = dataset.targets.classes[task]
        known = labels[labels >= 0]
        n_classes = len(dataset.taxonomy.classes(task))
        counts = np.bincount(known, minlength=n_classes).astype(np.float64) + 1.0
        w = counts.sum() / counts
        weights[task] = torch.as_tensor(w / w.mean(), dtype=torch.float32, device=device)
    return weights
