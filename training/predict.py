"""Running a reviewer over a loader: one forward for photos and for cached frozen features,
and one loop that gathers head outputs with their targets, in row order.

Training (validation each epoch), calibration and `secondlook evaluate` (PyTorch checkpoints
and onnxruntime bundles alike) all collect predictions through `gather`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from serving.tasks import CLASSIFICATION_TASKS, CUES, DEFECTS, EVIDENCE, ORDINAL_TASK, VIEW

MASK_TARGET = "mask_target"  # key of the target defect masks in `gather`'s result
FROZEN_PREFIX = "frozen_"  # batch keys of cached frozen features, one per level (training.cache)
HEAD_OUTPUTS = (*CLASSIFICATION_TASKS, ORDINAL_TASK, EVIDENCE)
OPTIONAL_OUTPUTS = (CUES,)  # collected when the model has them (bundles exported before it lack them)


def frozen_keys(batch: dict[str, torch.Tensor]) -> list[str]:
    return sorted(
        (k for k in batch if k.startswith(FROZEN_PREFIX)), key=lambda k: int(k[len(FROZEN_PREFIX) :])
    )


def to_device(
    batch: dict[str, torch.Tensor], device: torch.device, channels_last: bool
) -> dict[str, torch.Tensor]:
    """Move a batch; images and cached features go float32 (and channels-last when asked)."""
    moved = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    moved["mask"] = moved["mask"].float()  # cached as uint8
    for key in ("image", *frozen_keys(moved)):
        if key in moved:
            value = moved[key].float()
            moved[key] = value.contiguous(memory_format=torch.channels_last) if channels_last else value
    return moved


def forward(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], cue_maps: bool = False, training: bool = False
) -> dict[str, torch.Tensor]:
    """The model on a batch of photos, or on their cached frozen features (`training.cache`).
    `training`: each photo is routed by its labelled view, to its view's branch and cue head
    where the reviewer has them (`training.view_branches.route_views`)."""
    keys = frozen_keys(batch)
    views = batch[VIEW] if training else None
    if not keys:
        return model(batch["image"], cue_maps=cue_maps, views=views)
    size = batch["image_size"][0]
    return model(
        frozen=[batch[k] for k in keys], size=(int(size[0]), int(size[1])), cue_maps=cue_maps, views=views
    )


def gather(
    loader: Iterable[dict[str, torch.Tensor]],
    predict: Callable[[dict[str, torch.Tensor]], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Run `predict` (batch -> head outputs as numpy: logits, defect probabilities) over a loader;
    returns them with the target defect masks and the rows they belong to, in row order."""
    chunks: dict[str, list[np.ndarray]] = {}
    for batch in loader:
        out = predict(batch)
        for key in (*HEAD_OUTPUTS, *(k for k in OPTIONAL_OUTPUTS if k in out)):
            chunks.setdefault(key, []).append(out[key])
        chunks.setdefault(DEFECTS, []).append(out[DEFECTS].astype(np.float16))
        chunks.setdefault(MASK_TARGET, []).append(batch["mask"].cpu().numpy().astype(np.uint8))
        chunks.setdefault("row", []).append(batch["row"].cpu().numpy())
    collected = {k: np.concatenate(v) for k, v in chunks.items()}
    order = np.argsort(collected["row"])
    return {k: v[order] for k, v in collected.items()}


@torch.no_grad()
def collect(
    model: torch.nn.Module,
    loader: Iterable[dict[str, torch.Tensor]],
    device: torch.device,
    channels_last: bool,
) -> dict[str, np.ndarray]:
    """`gather` with a PyTorch model (eval mode; defect logits turned into probabilities)."""
    model.eval()

    def predict(batch: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        out = forward(model, to_device(batch, device, channels_last))
        result = {key: out[key].float().cpu().numpy() for key in (*HEAD_OUTPUTS, *OPTIONAL_OUTPUTS)}
        result[DEFECTS] = torch.sigmoid(out[DEFECTS].float()).cpu().numpy()
        return result

    return gather(loader, predict)
