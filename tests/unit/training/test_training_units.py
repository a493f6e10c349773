"""Training building blocks: config errors, metrics on known answers, calibration, losses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serving.evidence import item_counterfeit_probability, item_scores
from serving.preprocess import PreprocessSpec, preprocess
from serving.probabilities import ordinal_probabilities
from training import calibrate as cal
from training.config import ConfigError, load_config
from training.losses import mil_loss, ordinal_targets
from training.metrics import (
    accuracy,
    binary_ece,
    expected_calibration_error,
    item_accuracy,
    macro_f1,
)


def test_unknown_config_key_is_named(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"train\.epoch: unknown key"):
        load_config(path)


def test_bad_value_and_bad_override_are_named() -> None:
    with pytest.raises(ConfigError, match=r"train\.lr"):
        load_config(None, ["train.lr=-1"])
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["train.lr"])
    assert load_config(None, ["train.epochs=3", "model.backbone=resnet34"]).train.epochs == 3


def test_shipped_configs_load() -> None:
    for name in ("smoke", "reviewer_a", "reviewer_b", "reviewer_a_full", "reviewer_b_full"):
        config = load_config(f"configs/train/{name}.yaml")
        assert config.name == name


def test_reviewer_configs_differ_in_family_seed_and_split() -> None:
    for suffix in ("", "_full"):
        a = load_config(f"configs/train/reviewer_a{suffix}.yaml")
        b = load_config(f"configs/train/reviewer_b{suffix}.yaml")
        assert a.model.backbone.split("_")[0][:4] != b.model.backbone.split("_")[0][:4]
        assert a.seed != b.seed and a.data.split_seed != b.data.split_seed


def test_perfect_predictions_score_one_and_constant_ones_score_chance() -> None:
    rng = np.random.default_rng(0)
    target = rng.integers(0, 4, 4000)
    assert accuracy(target, target) == 1.0
    assert macro_f1(target, target, 4) == 1.0
    constant = np.zeros_like(target)
    assert accuracy(constant, target) == pytest.approx(0.25, abs=0.03)
    assert macro_f1(constant, target, 4) == pytest.approx(0.1, abs=0.03)  # F1 of class 0 is 0.4, others 0
    unknown = np.full(10, -1)
    assert np.isnan(accuracy(unknown, unknown))


def test_item_accuracy_uses_the_serving_aggregation() -> None:
    items = np.array(["a", "a", "b", "b"])
    evidence = np.array([0.9, 0.01, 0.02, 0.03])
    labels = np.array([1, 1, 0, 0])
    assert item_accuracy(items, evidence, labels) == (1.0, 2)
    assert item_scores(items, evidence)["a"] == pytest.approx(item_counterfeit_probability([0.9, 0.01]))
    assert item_counterfeit_probability([0.5, 0.5]) == pytest.approx(0.75)
    assert item_counterfeit_probability([]) == 0.0


def test_ece_is_zero_when_calibrated_and_large_when_overconfident() -> None:
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 50_000)
    correct = rng.random(50_000) < confidence
    assert expected_calibration_error(confidence, correct.astype(float)) < 0.01
    assert expected_calibration_error(
        np.full(1000, 0.99), np.r_[np.ones(600), np.zeros(400)]
    ) == pytest.approx(0.39)


def test_temperature_scaling_lowers_ece_of_an_overconfident_model() -> None:
    rng = np.random.default_rng(2)
    n, k = 4000, 5
    true_logits = rng.normal(0, 1.5, (n, k))
    probs = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    target = np.array([rng.choice(k, p=p) for p in probs])
    overconfident = true_logits * 4.0
    t = cal.fit_multiclass(overconfident, target)
    assert t == pytest.approx(4.0, rel=0.15)
    before, after = cal.multiclass_ece(overconfident, target), cal.multiclass_ece(overconfident, target, t)
    assert after < before / 3
    evidence_logits = rng.normal(0, 2, n)
    evidence = (rng.random(n) < 1 / (1 + np.exp(-evidence_logits))).astype(int)
    tb = cal.fit_binary(evidence_logits * 5, evidence)
    assert (
        cal.evidence_ece(evidence_logits * 5, evidence, tb)
        < cal.evidence_ece(evidence_logits * 5, evidence) / 3
    )
    assert binary_ece(np.array([0.9, 0.1]), np.array([1, 0])) == pytest.approx(0.1)


def test_ordinal_probabilities_sum_to_one_and_order() -> None:
    logits = np.array([[5.0, 5.0, 5.0], [-5.0, -5.0, -5.0], [5.0, 0.0, -5.0]])
    probs = ordinal_probabilities(logits)
    assert np.allclose(probs.sum(1), 1.0)
    assert list(probs.argmax(1)) == [3, 0, 1] or list(probs.argmax(1))[:2] == [3, 0]
    assert ordinal_targets(torch.tensor([0, 2, 3]), 3).tolist() == [[0, 0, 0], [1, 1, 0], [1, 1, 1]]


def test_mil_loss_rewards_one_strong_photo_for_a_counterfeit_item() -> None:
    items = torch.tensor([0, 0, 0, 1, 1])
    labels = torch.tensor([1, 1, 1, 0, 0])
    good = mil_loss(torch.tensor([6.0, -6.0, -6.0, -6.0, -6.0]), items, labels)
    bad = mil_loss(torch.tensor([-6.0, -6.0, -6.0, 6.0, -6.0]), items, labels)
    assert good < 0.05 < bad
    assert mil_loss(torch.zeros(2), torch.tensor([0, 1]), torch.tensor([-1, -1])) is None


def test_preprocess_shape_values_and_spec_round_trip() -> None:
    spec = PreprocessSpec(size=32)
    image = np.full((50, 70, 3), 255, np.uint8)
    out = preprocess(image, spec)
    assert out.shape == (3, 32, 32) and out.dtype == np.float32
    assert np.allclose(out[:, 0, 0], (1 - np.array(spec.mean)) / np.array(spec.std), atol=1e-5)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    cropped = PreprocessSpec(size=32, resize="center_crop")
    assert preprocess(image, cropped).shape == (3, 32, 32)


def test_roc_auc_and_risk_coverage_on_known_answers() -> None:
    from training.evaluate import risk_coverage, roc_auc

    labels = np.array([0, 0, 1, 1])
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
    assert roc_auc(np.full(4, 0.5), labels) == 0.5
    curve = risk_coverage(np.array([0.99, 0.01, 0.6, 0.45]), np.array([1, 0, 0, 0]))
    # Confidence order: 0.99, 0.01 (both right), 0.6 (wrong), 0.45 (right).
    assert np.allclose(curve["risk"], [0.0, 0.0, 1 / 3, 0.25])
    assert np.allclose(curve["coverage"], [0.25, 0.5, 0.75, 1.0])


def test_pretrained_weights_never_download_and_say_how_to_provide_them(tmp_path, monkeypatch) -> None:
    from training.model import PretrainedWeightsMissing, create_backbone

    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    with pytest.raises(PretrainedWeightsMissing, match="pretrained_path"):
        create_backbone("resnet18", pretrained=True, pretrained_path=None)
    with pytest.raises(PretrainedWeightsMissing, match="does not exist"):
        create_backbone("resnet18", pretrained=True, pretrained_path=tmp_path / "missing.safetensors")


def test_pretrained_weights_load_from_a_local_file(tmp_path) -> None:
    import timm
    from safetensors.torch import save_file

    from training.model import create_backbone

    reference = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    backbone = create_backbone("resnet18", pretrained=True, pretrained_path=path)
    torch.testing.assert_close(backbone.conv1.weight, reference.conv1.weight)


def test_reviewers_never_see_the_policy_or_test_items_and_partition_by_seed() -> None:
    import pandas as pd

    from training.data import reviewer_splits

    items = [f"i{k}" for k in range(200)]
    splits = ["train"] * 140 + ["val"] * 30 + ["test"] * 30
    frame = pd.DataFrame({"item_id": items, "split": splits, "photo_id": items})
    a, b = reviewer_splits(frame, 101, 0.2), reviewer_splits(frame, 202, 0.2)
    held_out = set(items[140:])
    for s in (a, b):
        assert not (set(s.train["item_id"]) | set(s.val["item_id"])) & held_out
        assert set(s.train["item_id"]) | set(s.val["item_id"]) == set(items[:140])
        assert list(s.test["item_id"]) == items[170:]
    assert set(a.val["item_id"]) != set(b.val["item_id"])
