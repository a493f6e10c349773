"""After training: one pass over the training photos, then the heads fitted to convergence.

The classification heads (`training.head_fit`) read the photos' pooled features; the
condition head (`training.grade_fit`) reads their defect summaries weighted by the view
head's probabilities. Both are linear in what one pass collects, so a single pass serves
both: the view head is refitted first, and the grade inputs are rebuilt from the stored
summaries with the refitted view head, as a second pass would compute them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from serving.tasks import CLASSIFICATION_TASKS, DEFECTS, ORDINAL_TASK
from training.grade_fit import GradeFit, graded_items, refit_grade_head
from training.head_fit import HEAD_FIT_MIN_PHOTOS, HeadFit, refit_classification_heads
from training.model import Reviewer, defect_summary
from training.predict import forward, to_device


@dataclass(frozen=True)
class TrainingPhotos:
    """Per training photo: what the classification heads read, its defect summary, its labels
    per classification task and grade (-1 unknown) and its item."""

    pooled: torch.Tensor  # (photos, F)
    summary: torch.Tensor  # (photos, 2D): `training.model.defect_summary`
    labels: dict[str, torch.Tensor]
    item_index: torch.Tensor


@dataclass(frozen=True)
class Refits:
    heads: list[HeadFit]
    grade: GradeFit | None


@torch.no_grad()
def collect_training_photos(
    model: Reviewer, loader: Iterable[dict[str, torch.Tensor]], device: torch.device, channels_last: bool
) -> TrainingPhotos:
    """One pass over `loader` in eval mode. The pooled features are read by a hook on the first
    classification head, so the model's outputs stay what it exports."""
    model.eval()
    pooled: list[torch.Tensor] = []
    hook = model.heads[CLASSIFICATION_TASKS[0]].register_forward_pre_hook(
        lambda _module, inputs: pooled.append(inputs[0].float().cpu())
    )
    summaries: list[torch.Tensor] = []
    labels: dict[str, list[torch.Tensor]] = {task: [] for task in (*CLASSIFICATION_TASKS, ORDINAL_TASK)}
    items: list[torch.Tensor] = []
    try:
        for batch in loader:
            out = forward(model, to_device(batch, device, channels_last))
            summaries.append(defect_summary(out[DEFECTS].float()).cpu())
            unknown = torch.full((len(batch["item_index"]),), -1)
            for task, values in labels.items():
                values.append(batch[task].cpu() if task in batch else unknown)
            items.append(batch["item_index"].cpu())
    finally:
        hook.remove()
    return TrainingPhotos(
        pooled=torch.cat(pooled),
        summary=torch.cat(summaries),
        labels={task: torch.cat(values) for task, values in labels.items()},
        item_index=torch.cat(items),
    )


def refit_heads(
    model: Reviewer,
    loader: Iterable[dict[str, torch.Tensor]],
    device: torch.device,
    channels_last: bool,
    min_photos: int = HEAD_FIT_MIN_PHOTOS,
) -> Refits:
    """The classification heads, then the condition head (whose inputs read the view head),
    fitted to convergence on the training photos of `loader`, from one pass over them."""
    photos = collect_training_photos(model, loader, device, channels_last)
    heads = refit_classification_heads(model, photos.pooled, photos.labels, min_photos)
    items = graded_items(model, photos.pooled, photos.summary, photos.item_index, photos.labels[ORDINAL_TASK])
    return Refits(heads=heads, grade=refit_grade_head(model, items))
