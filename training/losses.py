"""Multi-task loss with per-task masking of unknown labels.

Every term ignores rows whose label is unknown (-1) for that task; a term with no known
label in the batch contributes nothing. Counterfeit evidence is trained at three levels: each
cue of each photo (where the photo's cues are recorded), the photo (it shows any cue) and the
item. Where a photo records its cue region (synthetic data: where it differs from its genuine
twin), the cue maps are also trained cell by cell, which tells them where the cue is. Two terms
are about the item, through the same aggregations serving uses (every photo of
an item shares its batch): the multiple-instance evidence loss (noisy-OR of the photos'
evidence against the item label, which is all a real dataset may know about a counterfeit)
and the condition loss (the mean of the photos' grade logits against the item's grade,
`serving.condition`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from serving.tasks import CLASSIFICATION_TASKS, CUES, DEFECTS, EVIDENCE, ORDINAL_TASK, VIEW
from training.config import LossWeights
from training.cues import CUE_MAPS
from training.model import ROUTER, strongest_cells

CUE_REGION_POSITIVE_WEIGHT = 20.0  # cue cells are a few percent of one cue's map


def ordinal_targets(grade: torch.Tensor, thresholds: int) -> torch.Tensor:
    """Grade k -> [1]*k + [0]*(K-1-k): the labels of P(grade > j) for each threshold j."""
    steps = torch.arange(thresholds, device=grade.device)
    return (grade[:, None] > steps[None, :]).float()


def item_log_authentic(
    evidence_logits: torch.Tensor, item_index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """log P(item shows no cue) = sum over its photos of log(1 - p_i); returns (items, values)."""
    items, inverse = torch.unique(item_index, return_inverse=True)
    log_no_cue = -F.softplus(evidence_logits.float())  # log(1 - sigmoid(x))
    sums = torch.zeros(len(items), device=evidence_logits.device).index_add_(0, inverse, log_no_cue)
    return items, sums


def item_mean(values: torch.Tensor, item_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each item's mean of `values` (one row per photo): (each photo's item position, means)."""
    items, inverse = torch.unique(item_index, return_inverse=True)
    sums = values.new_zeros((len(items), *values.shape[1:])).index_add(0, inverse, values)
    counts = torch.bincount(inverse, minlength=len(items)).to(values.dtype)
    return inverse, sums / counts.view(-1, *([1] * (values.dim() - 1)))


def condition_loss(
    grade_logits: torch.Tensor, grade: torch.Tensor, item_index: torch.Tensor
) -> torch.Tensor | None:
    """Ordinal BCE of each item's mean grade logits against its grade (items with a known grade)."""
    inverse, logits = item_mean(grade_logits.float(), item_index)
    target = grade.new_full((len(logits),), -1).scatter_reduce(0, inverse, grade, "amax")
    known = target >= 0
    if not known.any():
        return None
    return F.binary_cross_entropy_with_logits(logits[known], ordinal_targets(target[known], logits.shape[1]))


def mil_loss(
    evidence_logits: torch.Tensor, item_index: torch.Tensor, item_label: torch.Tensor
) -> torch.Tensor | None:
    items, log_authentic = item_log_authentic(evidence_logits, item_index)
    labels = torch.full((len(items),), -1, device=evidence_logits.device, dtype=torch.long)
    labels[torch.unique(item_index, return_inverse=True)[1]] = item_label
    known = labels >= 0
    if not known.any():
        return None
    log_authentic = log_authentic[known].clamp(max=-1e-6)
    log_counterfeit = torch.log(-torch.expm1(log_authentic))
    positive = labels[known] == 1
    return -torch.where(positive, log_counterfeit, log_authentic).mean()


def dice_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits.float(), target)
    probs = torch.sigmoid(logits.float())
    dims = (0, 2, 3)
    intersection = (probs * target).sum(dims)
    union = probs.sum(dims) + target.sum(dims)
    dice = 1 - (2 * intersection + 1.0) / (union + 1.0)
    return bce + dice.mean()


def defect_presence_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Multiple-instance loss of the defect maps: a photo shows a defect class when any of its
    cells does, so the map's strongest cells (the pooling `defect_summary` reads) must fire on
    photos that show the class and stay low on photos that do not."""
    strongest = strongest_cells(logits.float())
    present = masks.flatten(2).amax(2)
    return F.binary_cross_entropy_with_logits(strongest, present)


def cue_region_loss(
    cue_maps: torch.Tensor, cue_labels: torch.Tensor, region: torch.Tensor
) -> torch.Tensor | None:
    """Weighted per-cell BCE of the (B, cues, h, w) cue maps. A cell is positive for a cue the
    photo shows when the photo's (B, H, W) cue region touches it; every other cell is negative,
    all of them on a photo that shows no cue. Photos that show a cue but record no region
    (real data, older benchmarks) and photos with unknown cues are left to the pooled terms."""
    shows = cue_labels.clamp(min=0).float()
    has_region = region.flatten(1).amax(1) > 0
    known = (cue_labels >= 0).all(1) & ((shows.sum(1) == 0) | has_region)
    if not known.any():
        return None
    maps = cue_maps[known].float()
    cells = F.adaptive_max_pool2d(region[known].float()[:, None], maps.shape[-2:])
    target = cells * shows[known][:, :, None, None]
    weight = 1 + CUE_REGION_POSITIVE_WEIGHT * target
    loss = F.binary_cross_entropy_with_logits(maps, target, reduction="none")
    return (loss * weight).sum() / weight.sum()


def multitask_loss(
    out: dict[str, torch.Tensor],
    batch: dict[str, torch.Tensor],
    weights: LossWeights,
    class_weights: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    total = torch.zeros((), device=out[EVIDENCE].device)
    parts: dict[str, float] = {}

    def add(name: str, value: torch.Tensor | None, weight: float) -> None:
        nonlocal total
        if value is None or weight == 0:
            return
        total = total + weight * value
        parts[name] = float(value.detach())

    for task in CLASSIFICATION_TASKS:
        target = batch[task]
        if (target >= 0).any():
            cw = class_weights.get(task) if class_weights else None
            add(
                task,
                F.cross_entropy(out[task].float(), target, weight=cw, ignore_index=-1),
                getattr(weights, task),
            )
    if ROUTER in out and (batch[VIEW] >= 0).any():
        add(ROUTER, F.cross_entropy(out[ROUTER].float(), batch[VIEW], ignore_index=-1), weights.view)
    add(
        ORDINAL_TASK,
        condition_loss(out[ORDINAL_TASK], batch[ORDINAL_TASK], batch["item_index"]),
        weights.condition_grade,
    )
    evidence = batch[EVIDENCE]
    known = evidence >= 0
    if known.any():
        add(
            EVIDENCE,
            F.binary_cross_entropy_with_logits(out[EVIDENCE][known].float(), evidence[known].float()),
            weights.evidence,
        )
    cues = batch[CUES]
    known = (cues >= 0).all(1)
    if known.any():
        add(
            CUES,
            F.binary_cross_entropy_with_logits(out[CUES][known].float(), cues[known].float()),
            weights.cues,
        )
    if CUE_MAPS in out and "cue_region" in batch:
        add("cue_regions", cue_region_loss(out[CUE_MAPS], cues, batch["cue_region"]), weights.cue_regions)
    add(
        "item_evidence",
        mil_loss(out[EVIDENCE], batch["item_index"], batch["item_label"]),
        weights.item_evidence,
    )
    known = batch["mask_known"]
    if known.any():
        add(DEFECTS, dice_bce(out[DEFECTS][known], batch["mask"][known]), weights.defects)
        add(
            "defect_presence",
            defect_presence_loss(out[DEFECTS][known], batch["mask"][known]),
            weights.defect_presence,
        )
    return total, parts
