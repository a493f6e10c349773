"""Training configs that extend another with `base:`: merge, overrides, errors, shipped profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from training.config import ConfigError, load_config, merge_config

BASE = """\
name: parent
model:
  backbone: resnet34
  seg_channels: 32
train:
  epochs: 5
  lr: 0.01
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_child_config_overrides_a_nested_key_and_keeps_its_siblings(tmp_path) -> None:
    _write(tmp_path / "parent.yaml", BASE)
    child = _write(tmp_path / "child.yaml", "base: parent.yaml\nname: child\ntrain:\n  epochs: 7\n")
    config = load_config(child)
    assert config.name == "child" and config.train.epochs == 7
    assert config.train.lr == 0.01  # sibling of the overridden key, from the base
    assert (config.model.backbone, config.model.seg_channels) == ("resnet34", 32)
    assert "base" not in config.model_dump()


def test_config_merge_replaces_lists_and_values_and_merges_mappings() -> None:
    base = {"a": [1, 2], "b": {"c": [1], "d": 1}, "e": {"f": 1}}
    child = {"a": [3], "b": {"c": [4, 5]}, "e": None}
    assert merge_config(base, child) == {"a": [3], "b": {"c": [4, 5], "d": 1}, "e": None}
    assert base == {"a": [1, 2], "b": {"c": [1], "d": 1}, "e": {"f": 1}}  # inputs untouched


def test_set_override_wins_over_child_and_base_config(tmp_path) -> None:
    _write(tmp_path / "parent.yaml", BASE)
    child = _write(tmp_path / "child.yaml", "base: parent.yaml\ntrain:\n  epochs: 7\n")
    config = load_config(child, ["train.epochs=9", "train.lr=0.5", "model.seg_channels=16"])
    assert (config.train.epochs, config.train.lr, config.model.seg_channels) == (9, 0.5, 16)
    assert config.model.backbone == "resnet34"


def test_config_bases_chain_relative_to_each_file(tmp_path) -> None:
    _write(tmp_path / "root.yaml", BASE)
    _write(tmp_path / "mid" / "mid.yaml", "base: ../root.yaml\nmodel:\n  backbone: resnet18\n")
    leaf = _write(tmp_path / "leaf" / "leaf.yaml", "base: ../mid/mid.yaml\ntrain:\n  lr: 0.02\n")
    config = load_config(leaf)
    assert (config.name, config.model.backbone, config.model.seg_channels) == ("parent", "resnet18", 32)
    assert (config.train.epochs, config.train.lr) == (5, 0.02)


def test_config_base_cycle_is_one_line_error_naming_the_chain(tmp_path) -> None:
    a = _write(tmp_path / "a.yaml", "base: b.yaml\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml$") as err:
        load_config(a)
    assert "\n" not in str(err.value)
    itself = _write(tmp_path / "self.yaml", "base: ./self.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(itself)


def test_missing_or_bad_config_base_is_one_line_error(tmp_path) -> None:
    child = _write(tmp_path / "child.yaml", "base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match=r"child\.yaml: base config not found: .*nowhere\.yaml$") as err:
        load_config(child)
    assert "\n" not in str(err.value)
    bad = _write(tmp_path / "bad.yaml", "base: [a.yaml]\n")
    with pytest.raises(ConfigError, match="base: expected the name of a config file"):
        load_config(bad)


def test_bad_key_in_a_config_base_is_named(tmp_path) -> None:
    _write(tmp_path / "parent.yaml", "train:\n  epoch: 3\n")
    child = _write(tmp_path / "child.yaml", "base: parent.yaml\n")
    with pytest.raises(ConfigError, match=r"child\.yaml \(base .*parent\.yaml\): train\.epoch: unknown key"):
        load_config(child)


# What each champion profile changes of its demo profile: the data, the photos' native size,
# the length of the run (EMA weights, early stopping on the reviewer's own validation part).
CHAMPION_DIFFERS = {
    "name": "{name}_champion",
    "out_dir": "runs/{name}_champion",
    "data.manifest": "data/synth_champion/manifest.csv",
    "data.val_fraction": 0.1,
    "preprocess.size": 256,
    "train.epochs": 8,
    "train.ema": True,
    "train.early_stopping_patience": 2,
}


@pytest.mark.parametrize("name", ["reviewer_a", "reviewer_b"])
def test_champion_config_is_its_demo_config_plus_only_the_differences(name: str) -> None:
    path = Path(f"configs/train/{name}_champion.yaml")
    demo = _flat(load_config(f"configs/train/{name}.yaml").model_dump(mode="json"))
    champion = _flat(load_config(path).model_dump(mode="json"))
    expected = {k: v.format(name=name) if isinstance(v, str) else v for k, v in CHAMPION_DIFFERS.items()}
    assert {k: v for k, v in champion.items() if v != demo[k]} == expected
    raw = yaml.safe_load(path.read_text())
    assert raw.pop("base") == f"{name}.yaml"
    assert set(_flat(raw)) == set(expected)  # the file sets nothing it inherits unchanged
