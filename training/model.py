"""The reviewer: a timm backbone (`features_only`) with one head per task.

- Classification heads (view, category, hardware type and finish, stamp type) are linear
  layers on the globally pooled maps of every level from stride 8 down (colour and fine
  shape survive there; the last level alone blurs them).
- Counterfeit evidence is read cue by cue (`training.cues`): one logit map per counterfeit
  cue at stride 16, pooled over its strongest cells, and the photo's evidence odds are the
  sum of its cues' odds. The class-activation map of the evidence is that same combination at
  every position (`cams`).
- Defects: an FPN-style head sums the feature maps of every level from stride 4 down to the
  last (1x1 lateral convolutions, upsampled), then gives one mask logit per class at 1/4 of
  the input resolution.
- Condition grade is ordinal (CORAL: one shared score and K-1 ordered thresholds; the grade
  reported is the median of its distribution, `serving.condition.median_grade`). Its score
  reads the pooled features and a summary of the photo's own defect maps (how surely and how
  much it shows each defect class) weighted by its predicted view (`grade_inputs`), because
  a grade is mostly a count of defects across the item's photos; an item's grade is the mean
  of its photos' logits (`serving.condition`). The pooled features serve training only: the
  grade's gradient through them helps the shared features (without it item ROC-AUC fell by
  0.02-0.03 over three runs), but the head overfits on them. Training ends by refitting the
  head to convergence on the defect summary alone, with zero weight on the pooled features
  (`training.grade_fit`).

The first `frozen_levels` feature levels of the backbone keep their ImageNet weights and
batch-norm statistics: `frozen_features` is a pure function of the photo, so training can
compute it once per photo and cache it, and train the rest (`forward(frozen=...)`) for many
epochs at a fraction of the cost of the whole network.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from timm.models import FeatureInfo
from torch import nn
from torch.nn import functional as F

from data.taxonomy import Taxonomy, load_taxonomy
from secondlook.errors import InputError
from serving.tasks import CAM_PREFIX, CLASSIFICATION_TASKS, CUES, DEFECTS, EVIDENCE, ORDINAL_TASK, VIEW
from training.config import ModelConfig
from training.cues import (
    CUE_HEADS,
    CUE_MAPS,
    CUE_STRIDE,
    CueHead,
    cue_logits,
    cue_visibility,
    evidence_logit,
)
from training.view_branches import ViewBranches, route_views
from training.weights import load_pretrained

DEFECT_SUMMARY_TOP_K = 16  # pixels of each defect map averaged for "how strongly is it there"
ROUTE = -1  # `feature_maps` key of the view router's logits (a branch per view)
ROUTER = "view_router"  # forward's key of the same logits, trained on the view labels


def create_backbone(name: str, pretrained: bool, pretrained_path: Path | None = None) -> nn.Module:
    """A timm `features_only` backbone; weights come from this machine, never the network
    (see `training.weights`)."""
    if not timm.is_model(name):
        raise InputError(f"unknown timm backbone {name!r}; see timm.list_models()")
    backbone = timm.create_model(name, pretrained=False, features_only=True)
    if pretrained:
        load_pretrained(backbone, name, pretrained_path)
    return backbone


def backbone_layers(backbone: nn.Module) -> tuple[list[nn.Module], list[int]]:
    """The backbone's layers in the order they run, and the layer after which each feature
    level is taken; what lets the backbone be cut between two levels."""
    from timm.models import FeatureDictNet
    from timm.models.efficientnet import EfficientNetFeatures
    from timm.models.mobilenetv3 import MobileNetV3Features

    if isinstance(backbone, FeatureDictNet):  # ResNets and most other families
        names = list(backbone.keys())
        return [backbone[n] for n in names], [names.index(n) for n in backbone.return_layers]
    if isinstance(backbone, EfficientNetFeatures | MobileNetV3Features):
        # EfficientNet / MobileNet families: stem, then blocks; stage s ends after block s-1
        # (stage 0 is the stem). The stages taken are those of the levels the backbone returns.
        layers = [backbone.conv_stem, backbone.bn1, *backbone.blocks]
        stages = {f["stage"] for f in backbone.feature_info.get_dicts()}
        return layers, [1 + stage for stage in sorted(stages)]
    raise InputError(f"model.frozen_levels: cannot cut a {type(backbone).__name__} backbone between levels")


class OrdinalHead(nn.Module):
    """CORAL: logits_k = w.(x - c) + b_k for k < K-1; P(grade > k) = sigmoid(logits_k).

    `center` c (a buffer, zero until `training.grade_fit` sets it to the training mean) keeps
    the score small: its inputs are log-probabilities far from zero, and a large w.x cancelled
    by large thresholds loses float32 precision (onnxruntime then drifts from PyTorch)."""

    center: torch.Tensor

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.score = nn.Linear(channels, 1, bias=False)
        self.thresholds = nn.Parameter(torch.linspace(1.0, -1.0, classes - 1))
        self.register_buffer("center", torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.score(x - self.center) + self.thresholds


class DefectHead(nn.Module):
    """Feature maps of several levels -> (B, classes, H/4, W/4) mask logits."""

    def __init__(self, channels: list[int], width: int, classes: int) -> None:
        super().__init__()
        self.lateral = nn.ModuleList([nn.Conv2d(c, width, 1) for c in channels])
        self.head = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, classes, 1),
        )

    def forward(self, maps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        fine = maps[0].shape[-2:]
        total = self.lateral[0](maps[0])
        for lateral, x in zip(self.lateral[1:], maps[1:], strict=True):
            total = total + F.interpolate(lateral(x), size=fine, mode="bilinear", align_corners=False)
        logits = self.head(total)
        if logits.shape[-2:] != size:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits


def strongest_cells(defect_logits: torch.Tensor) -> torch.Tensor:
    """(B, D, h, w) -> (B, D): the mean of each map's DEFECT_SUMMARY_TOP_K highest values."""
    flat = defect_logits.flatten(2)
    return flat.topk(min(DEFECT_SUMMARY_TOP_K, flat.shape[-1]), dim=2).values.mean(2)


def defect_summary(defect_logits: torch.Tensor) -> torch.Tensor:
    """(B, D, h, w) mask logits -> (B, 2D): per class, how surely the photo shows it (its
    strongest cells, as a log-probability) and how much of it there is (the log of the mean
    squared probability: an area that ignores faint noise)."""
    p = torch.sigmoid(defect_logits)
    # log sigmoid(x) written as -softplus(-x): F.logsigmoid exported to ONNX loses the far tail
    # under onnxruntime (0.02 apart from PyTorch at x = -12), enough to fail the export's parity
    # check on the grade logits (tests/integration/test_export.py).
    shown = -F.softplus(-strongest_cells(defect_logits))
    return torch.cat([shown, torch.log((p * p).mean(dim=(2, 3)) + 1e-4)], dim=1)


def grade_inputs(defect_logits: torch.Tensor, view_logits: torch.Tensor) -> torch.Tensor:
    """What the condition head reads of a photo: its `defect_summary` per predicted view,
    (B, 2D * V). The grade learns from the defect maps, not through them (the masks stay
    pixel-supervised), and per view: a scratch on a stamp close-up says more about wear than
    one on the overall photo."""
    return weigh_by_view(defect_summary(defect_logits.detach()), view_logits.detach())


def weigh_by_view(summary: torch.Tensor, view_logits: torch.Tensor) -> torch.Tensor:
    """(B, 2D) defect summaries spread over the views by their predicted probability, (B, 2D * V)."""
    view = torch.softmax(view_logits, dim=1)
    return (summary[:, :, None] * view[:, None, :]).flatten(1)


def grade_input_size(taxonomy: Taxonomy) -> int:
    """The width of `grade_inputs`: two numbers per defect class and view."""
    return 2 * len(taxonomy.classes(DEFECTS)) * len(taxonomy.classes(VIEW))


class Reviewer(nn.Module):
    def __init__(
        self,
        backbone: str,
        taxonomy: Taxonomy | None = None,
        pretrained: bool = False,
        pretrained_path: Path | None = None,
        drop_rate: float = 0.1,
        seg_channels: int = 64,
        frozen_levels: int = 0,
        cue_channels: int = 96,
        cue_heads: str = "shared",
        view_branches: bool = False,
    ) -> None:
        super().__init__()
        taxonomy = taxonomy or load_taxonomy()
        self.backbone_name = backbone
        self.backbone = create_backbone(backbone, pretrained, pretrained_path)
        info = self.backbone.feature_info
        assert isinstance(info, FeatureInfo), "timm's features_only backbones carry a FeatureInfo"
        reductions, channels = info.reduction(), info.channels()
        if not 0 <= frozen_levels < len(reductions):
            raise InputError(
                f"model.frozen_levels must be between 0 and {len(reductions) - 1} for {backbone}"
            )
        self.last_level = len(reductions) - 1
        self.seg_levels = [i for i, r in enumerate(reductions) if r >= 4]
        self.frozen_levels = frozen_levels
        # Plain lists: the layers stay registered (and named in state dicts) under `backbone`.
        self._layers, self._taps = backbone_layers(self.backbone) if frozen_levels else ([], [])
        self._cut = self._taps[frozen_levels - 1] + 1 if frozen_levels else 0
        for layer in self.frozen_layers:
            layer.requires_grad_(False)
        self.branches = (
            self._branch_per_view(len(taxonomy.classes(VIEW)), channels) if view_branches else None
        )
        self.pool_levels = [i for i, r in enumerate(reductions) if r >= 8]
        pooled_channels = sum(channels[i] for i in self.pool_levels)
        self.dropout = nn.Dropout(drop_rate)
        self.heads = nn.ModuleDict(
            {task: nn.Linear(pooled_channels, len(taxonomy.classes(task))) for task in CLASSIFICATION_TASKS}
        )
        self.cue_levels = [i for i, r in enumerate(reductions) if r >= CUE_STRIDE] or [self.last_level]
        if cue_heads not in CUE_HEADS:
            raise InputError(f"model.cue_heads must be one of {', '.join(CUE_HEADS)}, not {cue_heads!r}")
        visibility = cue_visibility(taxonomy) if cue_heads == "per_view" else None
        self.cues = CueHead(
            [channels[i] for i in self.cue_levels], cue_channels, len(taxonomy.cue_names), visibility
        )
        n_defects = len(taxonomy.classes(DEFECTS))
        self.defects = DefectHead([channels[i] for i in self.seg_levels], seg_channels, n_defects)
        # Its inputs: the pooled features, then `grade_inputs` (the last columns).
        self.ordinal = OrdinalHead(
            pooled_channels + grade_input_size(taxonomy), len(taxonomy.classes(ORDINAL_TASK))
        )

    def _branch_per_view(self, views: int, channels: list[int]) -> ViewBranches:
        """Move the backbone's trainable layers into one copy per view (`training.view_branches`);
        the backbone keeps its frozen layers only."""
        if not self.frozen_levels:
            raise InputError(
                "model.view_branches needs model.frozen_levels >= 1: the views share the frozen levels"
            )
        trainable = self._layers[self._cut :]
        taps = {tap - self._cut: level for level, tap in enumerate(self._taps) if tap >= self._cut}
        router_inputs = 2 * sum(channels[level] for level in self.frozen_output_levels)
        branches = ViewBranches(trainable, taps, views, router_inputs)
        parents = {
            id(child): (parent, name)
            for parent in self.backbone.modules()
            for name, child in parent.named_children()
        }
        for index in range(self._cut, len(self._layers)):
            parent, name = parents[id(self._layers[index])]
            setattr(parent, name, nn.Identity())
            self._layers[index] = getattr(parent, name)
        return branches

    @property
    def frozen_layers(self) -> list[nn.Module]:
        """The backbone's layers that keep their ImageNet weights, in the order they run."""
        return self._layers[: self._cut]

    @property
    def frozen_output_levels(self) -> list[int]:
        """The feature levels `frozen_features` returns (the last one feeds the trainable part)."""
        if not self.frozen_levels:
            return []
        used = [i for i in self.seg_levels if i < self.frozen_levels - 1]
        return [*used, self.frozen_levels - 1]

    def train(self, mode: bool = True) -> Reviewer:
        """Frozen layers stay in eval mode: their batch-norm statistics are ImageNet's."""
        super().train(mode)
        for layer in self.frozen_layers:
            layer.eval()
        return self

    def frozen_features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """What the frozen layers make of a batch of photos (the images themselves when
        nothing is frozen): a pure function of the photo, safe to cache."""
        if not self.frozen_levels:
            return [images]
        taps = {tap: level for level, tap in enumerate(self._taps)}
        wanted = set(self.frozen_output_levels)
        out, x = [], images
        with torch.no_grad():
            for index, layer in enumerate(self.frozen_layers):
                x = layer(x)
                if taps.get(index) in wanted:
                    out.append(x)
        return out

    def feature_maps(
        self, frozen: list[torch.Tensor], views: torch.Tensor | None = None, mix: bool = False
    ) -> dict[int, torch.Tensor]:
        """Every feature level the heads use, from `frozen_features`' output. With a branch per
        view, key `ROUTE` holds the router's view logits, and `views` / `mix` are the branches'
        routing (`training.view_branches`)."""
        if not self.frozen_levels:
            return dict(enumerate(self.backbone(frozen[0])))
        maps = dict(zip(self.frozen_output_levels, frozen, strict=True))
        if self.branches is not None:
            trained, maps[ROUTE] = self.branches(frozen, views, mix)
            return maps | trained
        taps = {tap: level for level, tap in enumerate(self._taps)}
        x = frozen[-1]
        for index in range(self._cut, len(self._layers)):
            x = self._layers[index](x)
            if index in taps:
                maps[taps[index]] = x
        return maps

    def forward(
        self,
        images: torch.Tensor | None = None,
        *,
        frozen: list[torch.Tensor] | None = None,
        size: tuple[int, int] | None = None,
        cue_maps: bool = False,
        views: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Head outputs for a batch of photos, or for their cached `frozen_features` (with the
        photos' `size`): one entry point, so that DistributedDataParallel sees both. `cue_maps`
        adds the cue maps before pooling (key `CUE_MAPS`) for the cell-level cue-region term,
        computed on detached features: that term trains the cue head alone and leaves the
        shared features, which the recognition heads read, to the other terms (on a 320-item
        benchmark it cost stamp type 4 of 53 test photos when it reached into them)."""
        if frozen is None:
            if images is None:
                raise ValueError("give images or frozen features")
            frozen, size = self.frozen_features(images), (images.shape[-2], images.shape[-1])
        if size is None:
            raise ValueError("frozen features need the size of the photos they came from")
        maps = self.feature_maps(frozen, views)
        out = self._heads(maps, (size[0] // 4, size[1] // 4), views)
        del out[CUE_MAPS]
        if cue_maps:
            route = self._route(maps, out, views)
            out[CUE_MAPS] = self.cues([maps[i].detach() for i in self.cue_levels], route)
        return out

    def forward_with_cams(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head outputs and class-activation maps (keys `cam_<task>`) from one backbone pass."""
        maps = self.feature_maps(self.frozen_features(images), mix=True)
        out = self._heads(maps, (images.shape[-2] // 4, images.shape[-1] // 4))
        out.pop(ROUTER, None)
        out[CAM_PREFIX + EVIDENCE] = evidence_logit(out.pop(CUE_MAPS), dim=1)[:, None]
        return out

    def cams(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The evidence's class-activation map (B, 1, h, w): at every cell of the cue maps, the
        evidence logit of that cell (`evidence_logit` of its cues)."""
        return {EVIDENCE: self.forward_with_cams(images)[CAM_PREFIX + EVIDENCE]}

    def _route(
        self, maps: dict[int, torch.Tensor], out: dict[str, torch.Tensor], views: torch.Tensor | None
    ) -> torch.Tensor | None:
        """The view each photo is read as by a per-view cue head: the branches' route where the
        views have branches, otherwise by the view head (`route_views`); None for a shared head."""
        if self.cues.views == 1:
            return None
        return route_views(maps[ROUTE] if ROUTE in maps else out[VIEW], views)

    def _heads(
        self, maps: dict[int, torch.Tensor], mask_size: tuple[int, int], views: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        pooled = self.dropout(torch.cat([maps[i].mean(dim=(2, 3)) for i in self.pool_levels], dim=1))
        out = {task: head(pooled) for task, head in self.heads.items()}
        out[CUE_MAPS] = self.cues([maps[i] for i in self.cue_levels], self._route(maps, out, views))
        out[CUES] = cue_logits(out[CUE_MAPS])
        out[EVIDENCE] = evidence_logit(out[CUES])
        out[DEFECTS] = self.defects([maps[i] for i in self.seg_levels], mask_size)
        out[ORDINAL_TASK] = self.ordinal(torch.cat([pooled, grade_inputs(out[DEFECTS], out[VIEW])], dim=1))
        if ROUTE in maps:
            out[ROUTER] = maps[ROUTE]
        return out


def build_reviewer(config: ModelConfig, inference: bool = False) -> Reviewer:
    """The reviewer `config` describes. For `inference` (a checkpoint's weights replace them),
    no ImageNet weights are looked up and dropout is off."""
    return Reviewer(
        config.backbone,
        pretrained=config.pretrained and not inference,
        pretrained_path=config.pretrained_path,
        drop_rate=0.0 if inference else config.drop_rate,
        seg_channels=config.seg_channels,
        frozen_levels=config.frozen_levels,
        cue_heads=config.cue_heads,
        view_branches=config.view_branches,
    )
