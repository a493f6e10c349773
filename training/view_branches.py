"""One copy of the backbone's trainable levels per view, behind a shared frozen trunk.

A reviewer of every view trained as one network reads cues worse than a reviewer of one view
(README, *View specialists*: item ROC-AUC 0.713 against 0.837 for three specialists at the same
photo steps; font weight 0.70 against 0.95 at 1,280 items), and a cue head per view does not
close the gap: the shared trainable levels do. `ViewBranches` gives each view its own copy of
those levels, as a specialist has, while the frozen ImageNet levels, their cached features and
one exported graph stay shared.

A photo goes through the branch of its view: in training its labelled view, otherwise the
view the router (a linear layer on the pooled frozen features, trained on the view labels)
predicts (`route_views`). The exported graph cannot pick a branch per photo, so `mix` runs every branch and
keeps the routed one by one-hot weights: the same numbers, at the cost of every branch.
"""

from __future__ import annotations

import copy
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F


def route_views(view_logits: torch.Tensor, views: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) the view each photo is read as: its labelled view where `views` knows it (training),
    otherwise the most likely one of `view_logits`."""
    route = view_logits.detach().argmax(1)
    return route if views is None else torch.where(views >= 0, views, route)


class ViewBranches(nn.Module):
    def __init__(self, layers: list[nn.Module], taps: dict[int, int], views: int, in_channels: int) -> None:
        """`layers`: the trainable backbone layers in the order they run; `taps`: layer position
        (within `layers`) -> the feature level taken after it."""
        super().__init__()
        self.views = views
        self.taps = dict(taps)
        self.branches = nn.ModuleList(
            [nn.ModuleList([copy.deepcopy(layer) for layer in layers]) for _ in range(views)]
        )
        self.router = nn.Linear(in_channels, views)

    def route_logits(self, frozen: list[torch.Tensor]) -> torch.Tensor:
        """(B, views) logits of each photo's view, from the mean and the maximum of every frozen
        level (a linear probe of the last level's mean alone read the view of 95% of photos,
        of both levels' mean and maximum 99%)."""
        pooled = [stat for x in frozen for stat in (x.mean(dim=(2, 3)), x.amax(dim=(2, 3)))]
        return self.router(torch.cat(pooled, dim=1))

    def _run(self, branch: int, x: torch.Tensor) -> dict[int, torch.Tensor]:
        maps = {}
        for index, layer in enumerate(cast(nn.ModuleList, self.branches[branch])):
            x = layer(x)
            if index in self.taps:
                maps[self.taps[index]] = x
        return maps

    def forward(
        self, frozen: list[torch.Tensor], views: torch.Tensor | None = None, mix: bool = False
    ) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
        """(feature levels of the routed branches, router logits), from `frozen_features`' output.
        `views` (B,), -1 unknown: the labelled views to route by (`route_views`)."""
        logits = self.route_logits(frozen)
        route, x = route_views(logits, views), frozen[-1]
        if mix:
            weights = F.one_hot(route, self.views).to(x.dtype)
            mixed: dict[int, torch.Tensor] = {}
            for branch in range(self.views):
                for level, value in self._run(branch, x).items():
                    weighted = value * weights[:, branch, None, None, None]
                    mixed[level] = mixed[level] + weighted if level in mixed else weighted
            return mixed, logits
        out: dict[int, torch.Tensor] = {}
        for branch in route.unique().tolist():
            rows = (route == branch).nonzero().squeeze(1)
            for level, value in self._run(branch, x.index_select(0, rows)).items():
                if level not in out:
                    out[level] = value.new_zeros((len(x), *value.shape[1:]))
                out[level] = out[level].index_copy(0, rows, value)
        return out, logits
