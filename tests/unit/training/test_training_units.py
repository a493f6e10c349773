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
    labelled_items,
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
    for name in ("smoke", "reviewer_a", "reviewer_b", "reviewer_a_champion", "reviewer_b_champion"):
        config = load_config(f"configs/train/{name}.yaml")
        assert config.name == name


def test_reviewer_configs_differ_in_backbone_seed_and_split() -> None:
    for suffix in ("", "_champion"):
        a = load_config(f"configs/train/reviewer_a{suffix}.yaml")
        b = load_config(f"configs/train/reviewer_b{suffix}.yaml")
        assert a.model.backbone != b.model.backbone
        # The demo runs both at 224 px to fit its 2-core budget; the champions at the photos' 256 px.
        assert a.preprocess.size == b.preprocess.size == (256 if suffix else 224)
        assert a.seed != b.seed and a.data.split_seed != b.data.split_seed
        assert a.model.pretrained and b.model.pretrained  # both start from ImageNet weights


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


def test_item_scores_use_the_serving_aggregation() -> None:
    items = np.array(["a", "a", "b", "b"])
    evidence = np.array([0.9, 0.01, 0.02, 0.03])
    labels = np.array([1, 1, 0, 0])
    probability, label = labelled_items(item_scores(items, evidence), items, labels)
    assert ((probability >= 0.5) == label.astype(bool)).all() and len(label) == 2
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


def test_cue_recall_is_read_at_the_threshold_that_flags_five_percent_of_authentic_items() -> None:
    from training.evaluate import recall_at_false_positive_rate

    negative = np.linspace(0.0, 0.99, 100)  # 5 of them (0.95..0.99) lie above 0.94
    positive = np.array([0.945, 0.96, 0.5, 0.999])
    # At most 5 of 100 authentic scores may be flagged: the threshold is the 6th highest, 0.94.
    assert recall_at_false_positive_rate(positive, negative, 0.05) == 0.75
    assert recall_at_false_positive_rate(positive, negative, 0.0) == 0.25  # only above 0.99
    # Ties with an authentic score are not flagged; no negatives means no figure.
    assert recall_at_false_positive_rate(np.array([0.94]), negative, 0.05) == 0.0
    assert np.isnan(recall_at_false_positive_rate(positive, np.array([]), 0.05))


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


def test_train_items_caps_only_the_training_items_in_manifest_order() -> None:
    """Data-scaling curves train on the first N training items and validate on all of val."""
    import pandas as pd

    from training.data import reviewer_splits

    items = [f"i{k}" for k in range(100) for _ in range(2)]  # two photos per item
    splits = ["train"] * 120 + ["val"] * 40 + ["test"] * 40
    frame = pd.DataFrame({"item_id": items, "split": splits, "photo_id": range(200)})
    full = reviewer_splits(frame, 7, 0.2, validation="benchmark")
    capped = reviewer_splits(frame, 7, 0.2, validation="benchmark", train_items=5)
    assert capped.train["item_id"].drop_duplicates().tolist() == [f"i{k}" for k in range(5)]
    assert len(capped.train) == 10  # every photo of each kept item
    assert capped.val.equals(full.val) and capped.test.equals(full.test)
    own = reviewer_splits(frame, 7, 0.2, train_items=5)
    assert own.train["item_id"].nunique() == 5
    assert own.val.equals(reviewer_splits(frame, 7, 0.2).val)


def test_a_reviewers_partition_does_not_depend_on_how_the_benchmark_was_split() -> None:
    """With the benchmark's split seed equal to the reviewer's, the reviewer still validates on
    about val_fraction of the benchmark's training items (it used to get none)."""
    import pandas as pd

    from data.splits import split_for_item
    from training.data import reviewer_splits

    items = [f"s101-{k:06d}" for k in range(400)]
    frame = pd.DataFrame({"item_id": items, "photo_id": items})
    frame["split"] = [split_for_item(i, 101) for i in items]  # `secondlook data synth --seed 101`
    splits = reviewer_splits(frame, 101, 0.15)
    pool = (frame["split"] == "train").sum()
    assert 0.08 * pool <= len(splits.val) <= 0.22 * pool
    assert len(splits.train) + len(splits.val) == pool


def test_item_grade_is_the_mean_of_its_photos_logits_in_loss_and_serving() -> None:
    from serving.condition import item_grade_probabilities, item_grades
    from serving.probabilities import ordinal_probabilities
    from training.losses import condition_loss, item_mean, ordinal_targets

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, -2.0, -3.0], [5.0, 4.0, 3.0], [1.0, 1.0, 1.0]])
    item_index = torch.tensor([0, 0, 1, 1])
    inverse, means = item_mean(logits, item_index)
    assert inverse.tolist() == [0, 0, 1, 1]
    torch.testing.assert_close(means, torch.tensor([[1.0, -1.0, -2.0], [3.0, 2.5, 2.0]]))
    grades = item_grades(["a", "a", "b", "b"], logits.numpy())
    np.testing.assert_allclose(grades["a"], ordinal_probabilities(means[:1].numpy())[0], rtol=1e-6)
    np.testing.assert_allclose(item_grade_probabilities(logits[2:].numpy()), grades["b"])
    assert grades["a"].argmax() == 1 and grades["b"].argmax() == 3
    grade = torch.tensor([1, 1, -1, -1])  # item b's grade is unknown: only item a counts
    expected = torch.nn.functional.binary_cross_entropy_with_logits(means[:1], ordinal_targets(grade[:1], 3))
    torch.testing.assert_close(condition_loss(logits, grade, item_index), expected)
    assert condition_loss(logits, torch.full((4,), -1), item_index) is None


def test_category_is_learnt_and_scored_on_overall_photos_only() -> None:
    import pandas as pd

    from data.taxonomy import load_taxonomy
    from training.targets import build_targets

    frame = pd.DataFrame(
        {
            "item_id": ["a"] * 4,
            "view": ["overall", "hardware", "stamp", "detail"],
            "category": ["tote"] * 4,
            "hardware_type": [None, "buckle", None, None],
            "hardware_finish": [None, "gold", None, None],
            "stamp_type": [None, None, "heat_stamp", None],
            "condition_grade": ["C", None, None, "C"],
            "authenticity": ["authentic"] * 4,
            "cues": [None] * 4,
            "item_cues": [None] * 4,
            "defects": ["none"] * 4,
        }
    )
    targets = build_targets(frame, load_taxonomy())
    assert targets.classes["category"].tolist() == [0, -1, -1, -1]
    assert targets.condition.tolist() == [2, 2, 2, 2]  # the item's grade, on every photo


def test_presence_threshold_separates_photos_that_show_a_defect() -> None:
    scores = np.array([0.05, 0.1, 0.12, 0.22, 0.25, 0.3, 0.6])
    present = np.array([False, False, False, True, True, True, True])
    assert cal.fit_presence_threshold(scores, present) == pytest.approx(0.22)
    assert cal.fit_presence_threshold(scores, np.zeros(7, bool)) == 0.5


def test_the_reported_grade_is_the_median_not_the_most_probable() -> None:
    from serving.condition import median_grade

    spread = np.array([0.34, 0.1, 0.22, 0.34])  # argmax would say A (or D); half the mass is above B
    assert median_grade(spread) == 2
    assert median_grade(np.array([[0.9, 0.1, 0, 0], [0, 0, 0.4, 0.6]])).tolist() == [0, 3]
    # The median of CORAL's class probabilities is the count of thresholds passed.
    logits = np.array([[2.0, 0.5, -1.0], [-0.2, -1.0, -3.0], [3.0, 2.0, 0.1]])
    assert median_grade(ordinal_probabilities(logits)).tolist() == (logits > 0).sum(1).tolist()


def test_a_view_specialist_sees_only_its_views_and_the_cues_they_show() -> None:
    """`data.views`: a stamp specialist trains on stamp photos, and an item whose only cue is on
    its hardware is authentic to it; a counterfeit without recorded cues keeps its label."""
    import pandas as pd

    from secondlook.errors import InputError
    from training.data import reviewer_splits

    rows = [
        # item, view, authenticity, photo cues, item cues
        ("a", "stamp", "counterfeit", "stamp_misspelling", "hardware_wrong_screw|stamp_misspelling"),
        ("a", "hardware", "counterfeit", "hardware_wrong_screw", "hardware_wrong_screw|stamp_misspelling"),
        ("b", "stamp", "counterfeit", None, "hardware_wrong_screw"),
        ("b", "hardware", "counterfeit", "hardware_wrong_screw", "hardware_wrong_screw"),
        ("c", "stamp", "counterfeit", None, None),
        ("c", "hardware", "counterfeit", None, None),
        ("d", "stamp", "authentic", None, None),
        ("d", "hardware", "authentic", None, None),
    ]
    frame = pd.DataFrame(rows, columns=["item_id", "view", "authenticity", "cues", "item_cues"])
    frame["split"], frame["photo_id"] = "test", frame["item_id"] + "-" + frame["view"]
    stamp = reviewer_splits(frame, 0, 0.2, views=["stamp"]).test.set_index("item_id")
    assert stamp["view"].eq("stamp").all() and list(stamp.index) == ["a", "b", "c", "d"]
    assert stamp["authenticity"].tolist() == ["counterfeit", "authentic", "counterfeit", "authentic"]
    assert stamp.loc["a", "item_cues"] == "stamp_misspelling"
    assert pd.isna(stamp.loc["b", "item_cues"])
    both = reviewer_splits(frame, 0, 0.2, views=["stamp", "hardware"]).test
    assert both.equals(reviewer_splits(frame, 0, 0.2).test)
    with pytest.raises(InputError, match="no photos of view"):
        reviewer_splits(frame, 0, 0.2, views=["detail"])
