"""ImageNet weights come from this machine only, and the mapping onto timm's names is verified."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from training.weights import (
    WEIGHTS_PACKAGES,
    PretrainedWeightsMissing,
    imagenet_state_dict,
    map_in_order,
    resolve_weights,
)

# ImageNet classes a handbag photo should call to mind: purse, wallet, buckle.
BAG_CLASSES = {748, 893, 464}


@pytest.fixture
def no_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty Hugging Face and torch hub caches: only a file or a package can provide weights."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    torch.hub.set_dir(str(tmp_path / "torch" / "hub"))


@pytest.fixture(scope="module")
def overall_photos(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The overall photos of a small benchmark, preprocessed for tf_efficientnet_lite0 (224 px,
    mean and std 0.5 from timm's pretrained config)."""
    from data.decode import decode_image
    from data.manifest import read_manifest, resolve_image_path
    from data.synthetic.config import SynthConfig
    from data.synthetic.generate import generate
    from serving.preprocess import PreprocessSpec, preprocess_batch

    manifest = generate(
        SynthConfig(items=12, seed=5, workers=1), tmp_path_factory.mktemp("w"), progress=False
    )
    frame = read_manifest(manifest)
    paths = [resolve_image_path(manifest, p) for p in frame.loc[frame["view"] == "overall", "image_path"]]
    spec = PreprocessSpec(size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    return preprocess_batch([decode_image(p) for p in paths], spec)


def _bag_share(model: torch.nn.Module, photos: np.ndarray) -> float:
    """Share of photos with purse, wallet or buckle among the network's top-5 ImageNet classes."""
    with torch.no_grad():
        top5 = model.eval()(torch.from_numpy(photos)).topk(5, dim=1).indices.tolist()
    return float(np.mean([bool(BAG_CLASSES & set(row)) for row in top5]))


def test_packaged_weights_are_the_trained_imagenet_network(no_caches, overall_photos) -> None:
    import timm

    source = resolve_weights("tf_efficientnet_lite0")
    assert source.origin == f"package {WEIGHTS_PACKAGES['tf_efficientnet_lite0'].distribution}"
    trained = timm.create_model("tf_efficientnet_lite0")
    trained.load_state_dict(imagenet_state_dict("tf_efficientnet_lite0", source))
    torch.manual_seed(0)
    random = timm.create_model("tf_efficientnet_lite0")
    trained_share, random_share = _bag_share(trained, overall_photos), _bag_share(random, overall_photos)
    print(
        f"bag classes in the top 5: ImageNet weights {trained_share:.2f}, random weights {random_share:.2f}"
    )
    assert trained_share >= 0.75
    assert random_share <= 0.25


def test_backbone_loads_every_tensor_and_preprocess_uses_its_statistics(no_caches) -> None:
    import timm

    from training.config import load_config
    from training.model import create_backbone
    from training.train import preprocess_spec

    backbone = create_backbone("tf_efficientnet_lite0", pretrained=True)
    reference = imagenet_state_dict("tf_efficientnet_lite0", resolve_weights("tf_efficientnet_lite0"))
    for key, value in backbone.state_dict().items():
        torch.testing.assert_close(value, reference[key], msg=key)
    spec = preprocess_spec(load_config(None, ["model.backbone=tf_efficientnet_lite0"]))
    assert spec.mean == tuple(timm.models.get_pretrained_cfg("tf_efficientnet_lite0").mean) == (0.5, 0.5, 0.5)
    assert preprocess_spec(load_config(None, ["model.backbone=resnet18"])).mean == (0.485, 0.456, 0.406)


def test_no_weights_anywhere_is_one_line_naming_the_ways_to_provide_them(no_caches) -> None:
    with pytest.raises(PretrainedWeightsMissing) as error:
        resolve_weights("resnet18")
    message = str(error.value)
    assert "\n" not in message
    for way in ("model.pretrained_path", "Hugging Face cache", "model.pretrained=false"):
        assert way in message


def test_a_missing_pretrained_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(PretrainedWeightsMissing, match="does not exist"):
        resolve_weights("resnet18", tmp_path / "missing.safetensors")


def test_a_local_file_with_timm_names_loads_as_is(tmp_path: Path) -> None:
    import timm
    from safetensors.torch import save_file

    from training.model import create_backbone

    reference = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    backbone = create_backbone("resnet18", pretrained=True, pretrained_path=path)
    torch.testing.assert_close(backbone.conv1.weight, reference.conv1.weight)


def test_mapping_in_order_refuses_other_shapes_or_counts() -> None:
    reference = {"a.weight": torch.zeros(2, 3), "b.weight": torch.zeros(4)}
    mapped = map_in_order({"x": torch.ones(2, 3), "y": torch.ones(4)}, reference, "f")
    assert list(mapped) == ["a.weight", "b.weight"] and mapped["a.weight"].sum() == 6
    with pytest.raises(PretrainedWeightsMissing, match="shape"):
        map_in_order({"x": torch.ones(3, 2), "y": torch.ones(4)}, reference, "f")
    with pytest.raises(PretrainedWeightsMissing, match="1 tensors"):
        map_in_order({"x": torch.ones(2, 3)}, reference, "f")


def test_cli_reports_missing_weights_in_one_line(tmp_path: Path) -> None:
    env_home = {"HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(tmp_path / "torch")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "secondlook.cli",
            "train",
            "--config",
            "configs/train/smoke.yaml",
            "--set",
            "model.backbone=resnet18",
            "--set",
            "model.pretrained=true",
            "--set",
            f"out_dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env_home},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: no ImageNet weights for resnet18"), result.stderr
