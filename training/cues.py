"""Counterfeit evidence read cue by cue: one logit map per counterfeit cue of the taxonomy.

`CueHead` turns the feature maps of the levels of stride `CUE_STRIDE` and coarser into one
logit map per cue; `cue_logits` pools each map by the mean of its `CUE_TOP_K` strongest cells,
so that one wrong letter or one screw head can carry a photo instead of being averaged away by
a global pool; `evidence_logit` combines a photo's cues into its evidence. With
`model.cue_heads: per_view` each view has its own head, answering only for the cues the
taxonomy says it can show (`cue_visibility`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from data.taxonomy import Taxonomy
from serving.tasks import VIEW

CUE_TOP_K = 4  # cells of each cue map averaged for "does the photo show this cue"
CUE_STRIDE = 16  # cue maps read the levels of this stride and coarser
CUE_MAPS = "cue_maps"  # forward's (B, cues, h, w) maps, before pooling
CUE_HEADS = ("shared", "per_view")  # one cue head for every view, or one per view
UNSEEN_CUE_LOGIT = -12.0  # a per-view cue head's logit for a cue its view cannot show


class CueHead(nn.Module):
    """Feature maps of several levels -> (B, cues, h, w) logit maps at the finest of them.

    With a (views, cues) `visibility` table (which cue each view can show, from the taxonomy)
    the head is one head per view (grouped convolutions), each answering only for the cues its
    view can show (the others sit at `UNSEEN_CUE_LOGIT`), and a photo's maps are those of the
    head of its view (`route`: its labelled view in training, its predicted one otherwise): a
    stamp close-up and a screw head are read by different weights, as a view specialist's
    are, and no view adds noise to a cue it cannot show. (Weighing the heads' logits by the
    predicted view's probabilities instead shifted each photo's logits by its view's
    uncertainty: stamp font weight ROC-AUC fell from 0.70 to 0.54 on 1,280 items.)

    Every head normalises with batch statistics, never a photo's own: a cue such as a heavier
    font raises the response over the whole stamp, which a per-photo norm divides away (with
    group norm, a stamp specialist's font weight ROC-AUC fell from 0.91 to 0.80)."""

    seen: torch.Tensor

    def __init__(
        self, channels: list[int], width: int, cues: int, visibility: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        views = 1 if visibility is None else visibility.shape[0]
        if visibility is not None and visibility.shape != (views, cues):
            raise ValueError(f"cue visibility must be (views, {cues}), not {tuple(visibility.shape)}")
        self.views, self.cues = views, cues
        seen = torch.ones(views, cues) if visibility is None else visibility.float()
        self.register_buffer("seen", seen, persistent=False)  # 2-D: channels_last leaves it alone
        self.lateral = nn.ModuleList([nn.Conv2d(c, width * views, 1) for c in channels])
        norm = nn.BatchNorm2d(width * views)
        self.head = nn.Sequential(
            norm, nn.ReLU(inplace=True), nn.Conv2d(width * views, cues * views, 1, groups=views)
        )

    def forward(self, maps: list[torch.Tensor], route: torch.Tensor | None = None) -> torch.Tensor:
        fine = maps[0].shape[-2:]
        total = self.lateral[0](maps[0])
        for lateral, x in zip(self.lateral[1:], maps[1:], strict=True):
            total = total + F.interpolate(lateral(x), size=fine, mode="bilinear", align_corners=False)
        out = self.head(total)
        if self.views == 1:
            return out
        if route is None:
            raise ValueError("a per-view cue head needs each photo's view (`route_views`)")
        seen = self.seen.to(out.dtype)[None, :, :, None, None]
        per_view = out.unflatten(1, (self.views, self.cues)) * seen + (1 - seen) * UNSEEN_CUE_LOGIT
        weights = F.one_hot(route, self.views).to(out.dtype)
        return (per_view * weights[:, :, None, None, None]).sum(1)


def cue_logits(cue_maps: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) cue maps -> (B, C): the mean of each map's CUE_TOP_K strongest cells."""
    flat = cue_maps.flatten(2)
    return flat.topk(min(CUE_TOP_K, flat.shape[-1]), dim=2).values.mean(2)


def evidence_logit(logits: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Per-cue logits -> the photo's evidence logit: its odds are the sum of the cues' odds
    (logsumexp). For rare cues that is the chance of at least one cue, the cues taken as
    independent; one sure cue carries the photo, several weak ones add up. Unlike the exact
    noisy-OR (log(1 - prod(1 - p))), it keeps its precision in the far negative tail under
    onnxruntime, whose float32 softplus does not (the export's parity check failed on it)."""
    return torch.logsumexp(logits.float(), dim=dim)


def cue_visibility(taxonomy: Taxonomy) -> torch.Tensor:
    """(views, cues) bool: which counterfeit cue each view can show (the taxonomy's `visible_in`)."""
    views = taxonomy.classes(VIEW)
    return torch.tensor(
        [[view in taxonomy.cue(cue).visible_in for cue in taxonomy.cue_names] for view in views]
    )
