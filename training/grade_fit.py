"""The condition head fitted to convergence once training ends.

The grade head is CORAL on each photo's pooled features and its defect summary per view
(`training.model.grade_inputs`, 40 numbers). The pooled features are there for training (the
grade's gradient through them helps the shared features) but the head overfits on them, and
during training the defect maps move under it while the demo's few epochs leave it short of
its optimum. So once the best epoch is loaded it is refitted on the training items, on the
defect summary alone (zero weight on the pooled features), where with the maps fixed its
loss is convex: one pass collects each photo's grade inputs (`training.refit`), an item is
the mean of its photos' (the head is linear, so this is the mean of their logits, which is
how `serving.condition` aggregates), and L-BFGS minimises the ordinal BCE of the items' grades
with a small L2 penalty on standardised inputs. On the demo benchmark (reviewer A, 694
training items) refitting on the summary alone moved test exact from 0.49 to 0.59 and within
one grade from 0.90 to 0.95; with the pooled features kept, to 0.55 and 0.95.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from serving.condition import median_grade
from serving.probabilities import ordinal_probabilities
from serving.tasks import VIEW
from training.convex_fit import minimise, standardised
from training.losses import item_mean, ordinal_targets
from training.model import OrdinalHead, Reviewer, weigh_by_view

GRADE_FIT_L2 = 1e-3  # on standardised inputs; 1e-4 to 1e-2 measured alike on the demo benchmark
GRADE_FIT_ITERATIONS = 500
GRADE_FIT_MIN_SCALE = 0.05  # inputs are log-probabilities: less spread than this is noise


@dataclass(frozen=True)
class GradeFit:
    items: int
    exact_before: float  # on the training items the head was fitted to, as trained
    exact_after: float  # on the same items, refitted

    def describe(self) -> str:
        return (
            f"condition head fitted to convergence on {self.items} training items "
            f"(their exact grade {self.exact_before:.3f} -> {self.exact_after:.3f})"
        )


@dataclass(frozen=True)
class GradedItems:
    """Per item with a known grade: the mean of its photos' grade inputs (items, F), the mean
    of their grade logits as trained (items, K-1), and its grade (items,)."""

    features: torch.Tensor
    logits: torch.Tensor
    grade: torch.Tensor


@torch.no_grad()
def graded_items(
    model: Reviewer,
    pooled: torch.Tensor,
    summary: torch.Tensor,
    item_index: torch.Tensor,
    grade: torch.Tensor,
) -> GradedItems:
    """The items with a known grade, from their photos' pooled features (photos, F), defect
    summaries (photos, 2D), items and grades (-1 unknown), as `training.refit` collects them:
    the grade inputs are rebuilt with the model's view head as it is now (refitted first)."""
    view = model.heads[VIEW]
    target = next(model.ordinal.parameters())
    features = weigh_by_view(summary, view(pooled.to(target)).float().cpu())
    logits = model.ordinal(torch.cat([pooled, features], dim=1).to(target)).float().cpu()
    # Photos and items grouped as the condition loss groups them (`training.losses`).
    inverse, item_features = item_mean(features, item_index)
    _, item_logits = item_mean(logits, item_index)
    item_grade = torch.full((len(item_logits),), -1, dtype=torch.long).scatter_reduce(
        0, inverse, grade.long(), "amax"
    )
    known = item_grade >= 0
    return GradedItems(features=item_features[known], logits=item_logits[known], grade=item_grade[known])


def exact(logits: torch.Tensor, grade: torch.Tensor) -> float:
    """The share of items whose reported grade (`serving.condition.median_grade`) is right."""
    reported = median_grade(ordinal_probabilities(logits.detach().cpu().numpy()))
    return float((reported == grade.cpu().numpy()).mean())


def fit_ordinal_head(
    head: OrdinalHead, features: torch.Tensor, grade: torch.Tensor, l2: float = GRADE_FIT_L2
) -> torch.Tensor:
    """Replace the head's weights and thresholds by the L2-penalised ordinal fit of (items, F)
    features, the last F columns of its input, to their grades; the columns before them get
    zero weight. Returns the fitted logits of the items."""
    # The floor on the scale: an input that barely varies (a defect class a view never shows).
    x, mean, scale = standardised(features, GRADE_FIT_MIN_SCALE)
    target = ordinal_targets(grade, head.thresholds.numel())
    weight = torch.zeros(x.shape[1], requires_grad=True)
    thresholds = head.thresholds.detach().clone().requires_grad_(True)
    minimise(
        [weight, thresholds],
        lambda: (
            F.binary_cross_entropy_with_logits((x @ weight)[:, None] + thresholds, target)
            + l2 * (weight * weight).sum()
        ),
        GRADE_FIT_ITERATIONS,
    )
    leading = head.score.in_features - features.shape[1]
    with torch.no_grad():  # back to raw inputs: w.(x - mean)/scale + b, zero before them
        head.center.copy_(F.pad(mean, (leading, 0)))
        head.score.weight.copy_(F.pad(weight / scale, (leading, 0))[None])
        head.thresholds.copy_(thresholds)
        return head(F.pad(features, (leading, 0)))


def refit_grade_head(model: Reviewer, items: GradedItems) -> GradeFit | None:
    """Fit the model's condition head to convergence on `items` (None when fewer than two
    grades are known: the head is left as trained)."""
    if len(items.grade.unique()) < 2:
        return None
    head = model.ordinal
    target = head.thresholds.device
    fitted = fit_ordinal_head(head, items.features.to(target), items.grade.to(target))
    return GradeFit(
        items=len(items.grade),
        exact_before=exact(items.logits, items.grade),
        exact_after=exact(fitted, items.grade),
    )
