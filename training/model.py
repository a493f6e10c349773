"""The reviewer: a timm backbone (`features_only`) with one head per task.

- Classification heads (view, hardware type and finish, stamp type) and the counterfeit
  evidence head are linear layers on globally pooled last-stage features, so a
  class-activation map is that same linear layer applied at every position (`cams`).
- Condition grade is ordinal: one shared score and K-1 ordered thresholds (CORAL).
- Defects: a light FPN-style head over the stride-4 and last feature maps gives one mask
  logit per class at 1/4 of the input resolution.

`pretrained=True` loads weights only from a local file or an already populated cache.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn
from torch.nn import functional as F

from data.taxonomy import Taxonomy, load_taxonomy
from training.targets import CLASSIFICATION_TASKS, ORDINAL_TASK

EVIDENCE = "evidence"
DEFECTS = "defects"


class PretrainedWeightsMissing(FileNotFoundError):
    """Pretrained weights were asked for but are not on this machine."""


def cached_pretrained_file(name: str) -> Path | None:
    """Where this machine already holds pretrained weights for `name`: the Hugging Face cache
    (timm's hub id) or torch hub's checkpoint folder (timm's URL). Never touches the network."""
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@")[0]
        for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found)
    if cfg.url:
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / cfg.url.rsplit("/", 1)[-1]
        if candidate.is_file():
            return candidate
    return None


def create_backbone(name: str, pretrained: bool, pretrained_path: Path | None) -> nn.Module:
    """A timm `features_only` backbone; weights come from a local file or cache, never the network."""
    if not timm.is_model(name):
        raise ValueError(f"unknown timm backbone {name!r}; see timm.list_models()")
    if not pretrained:
        return timm.create_model(name, pretrained=False, features_only=True)
    path = Path(pretrained_path) if pretrained_path is not None else cached_pretrained_file(name)
    if pretrained_path is not None and not path.is_file():
        raise PretrainedWeightsMissing(f"pretrained_path {path} does not exist")
    if path is None:
        raise PretrainedWeightsMissing(
            f"no local pretrained weights for {name}: put a .safetensors or .pth file on this machine "
            "and set model.pretrained_path, or populate the Hugging Face cache (HF_HOME) where a network "
            "is available, or train from scratch with model.pretrained=false"
        )
    return timm.create_model(
        name, pretrained=True, features_only=True, pretrained_cfg_overlay={"file": str(path)}
    )


class OrdinalHead(nn.Module):
    """CORAL: logits_k = w.x + b_k for k < K-1; P(grade > k) = sigmoid(logits_k)."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.score = nn.Linear(channels, 1, bias=False)
        self.thresholds = nn.Parameter(torch.linspace(1.0, -1.0, classes - 1))

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.score(pooled) + self.thresholds

    def cam(self, features: torch.Tensor) -> torch.Tensor:
        return (
            torch.einsum("c,bchw->bhw", self.score.weight[0], features)[:, None]
            + self.thresholds[None, :, None, None]
        )


class Reviewer(nn.Module):
    def __init__(
        self,
        backbone: str,
        taxonomy: Taxonomy | None = None,
        pretrained: bool = False,
        pretrained_path: Path | None = None,
        drop_rate: float = 0.1,
        seg_channels: int = 64,
    ) -> None:
        super().__init__()
        taxonomy = taxonomy or load_taxonomy()
        self.backbone_name = backbone
        self.backbone = create_backbone(backbone, pretrained, pretrained_path)
        info = self.backbone.feature_info
        reductions, channels = info.reduction(), info.channels()
        self.fine_index = max(i for i, r in enumerate(reductions) if r <= 4)
        self.last_index = len(reductions) - 1
        last_channels, fine_channels = channels[self.last_index], channels[self.fine_index]
        self.dropout = nn.Dropout(drop_rate)
        self.heads = nn.ModuleDict(
            {task: nn.Linear(last_channels, len(taxonomy.classes(task))) for task in CLASSIFICATION_TASKS}
        )
        self.heads[EVIDENCE] = nn.Linear(last_channels, 1)
        self.ordinal = OrdinalHead(last_channels, len(taxonomy.classes(ORDINAL_TASK)))
        n_defects = len(taxonomy.classes(DEFECTS))
        self.seg_lateral = nn.Conv2d(fine_channels, seg_channels, 1)
        self.seg_top = nn.Conv2d(last_channels, seg_channels, 1)
        self.seg_head = nn.Sequential(
            nn.Conv2d(seg_channels, seg_channels, 3, padding=1),
            nn.BatchNorm2d(seg_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(seg_channels, n_defects, 1),
        )

    def features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.backbone(images)
        return maps[self.fine_index], maps[self.last_index]

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        fine, last = self.features(images)
        return self._heads(fine, last, images.shape[-2:])

    def forward_with_cams(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head outputs and class-activation maps (keys `cam_<task>`) from one backbone pass."""
        fine, last = self.features(images)
        out = self._heads(fine, last, images.shape[-2:])
        out.update({f"cam_{task}": cam for task, cam in self._cams(last).items()})
        return out

    def cams(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Class-activation maps (B, K, h, w) at the last stage for every classification head."""
        _, last = self.features(images)
        return self._cams(last)

    def _heads(self, fine: torch.Tensor, last: torch.Tensor, size: torch.Size) -> dict[str, torch.Tensor]:
        pooled = self.dropout(last.mean(dim=(2, 3)))
        out = {task: head(pooled) for task, head in self.heads.items()}
        out[EVIDENCE] = out[EVIDENCE][:, 0]
        out[ORDINAL_TASK] = self.ordinal(pooled)
        top = F.interpolate(self.seg_top(last), size=fine.shape[-2:], mode="bilinear", align_corners=False)
        seg = self.seg_head(self.seg_lateral(fine) + top)
        target = (size[0] // 4, size[1] // 4)
        if seg.shape[-2:] != target:
            seg = F.interpolate(seg, size=target, mode="bilinear", align_corners=False)
        out[DEFECTS] = seg
        return out

    def _cams(self, last: torch.Tensor) -> dict[str, torch.Tensor]:
        maps = {
            task: torch.einsum("kc,bchw->bkhw", head.weight, last) + head.bias[None, :, None, None]
            for task, head in self.heads.items()
        }
        maps[ORDINAL_TASK] = self.ordinal.cam(last)
        return maps
