"""The verdict policy on constructed scores: every state and every reason is reachable."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from serving.quality import QualityReport, QualityThresholds, assess_quality
from serving.verdict import (
    PhotoAssessment,
    Policy,
    PolicyError,
    VerdictState,
    decide,
    load_policy,
    reviewer_decision,
)

GOOD = QualityReport(1024, 1024, 80.0, 0.4, 0.0)
POLICY = load_policy("configs/verdict.yaml")


def photo(index: int, view: str, quality: QualityReport = GOOD, given: bool = True, confidence: float = 0.9):
    return PhotoAssessment(index, view, given, confidence, quality, {"reviewer_a": 0.1, "reviewer_b": 0.2})


FULL_SET = [photo(1, "overall"), photo(2, "stamp"), photo(3, "hardware")]


def codes(verdict) -> list[str]:
    return [r.code for r in verdict.reasons]


def test_shipped_policy_loads_and_bad_policies_name_the_key(tmp_path) -> None:
    assert set(POLICY.reviewers) == {"reviewer_a", "reviewer_b"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "reviewers:\n"
        "  a: {authentic_at: 0.9, counterfeit_at: 0.1}\n"
        "  b: {authentic_at: 0.1, counterfeit_at: 0.9}\n"
    )
    with pytest.raises(PolicyError, match=r"reviewers\.a: .*authentic_at must be below"):
        load_policy(bad)
    bad.write_text("reviewers:\n  a: {authentic_at: 0.1, counterfeit_at: 0.9}\nrequired_view: [overall]\n")
    with pytest.raises(PolicyError, match=r"required_view: unknown key"):
        load_policy(bad)
    with pytest.raises(PolicyError, match=r"missing\.yaml"):
        load_policy(bad.with_name("missing.yaml"))


def test_one_reviewer_is_not_a_dual_review() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Policy.model_validate({"reviewers": {"a": {"authentic_at": 0.1, "counterfeit_at": 0.9}}})


def test_both_sure_and_agreeing_gives_an_ai_verdict() -> None:
    authentic = decide(FULL_SET, {"reviewer_a": 0.01, "reviewer_b": 0.0}, POLICY, declared_value=900)
    assert authentic.state is VerdictState.AUTHENTIC and not authentic.provisional
    assert codes(authentic) == ["reviewers_agree"]
    counterfeit = decide(FULL_SET, {"reviewer_a": 0.99, "reviewer_b": 0.985}, POLICY)
    assert counterfeit.state is VerdictState.COUNTERFEIT
    assert counterfeit.reviewer_decisions == {"reviewer_a": "counterfeit", "reviewer_b": "counterfeit"}


def test_disagreement_and_uncertainty_refer_to_an_expert_with_reasons() -> None:
    disagree = decide(FULL_SET, {"reviewer_a": 0.99, "reviewer_b": 0.01}, POLICY)
    assert disagree.state is VerdictState.REFER_TO_EXPERT and codes(disagree) == ["reviewers_disagree"]
    unsure = decide(FULL_SET, {"reviewer_a": 0.01, "reviewer_b": 0.5}, POLICY)
    assert unsure.state is VerdictState.REFER_TO_EXPERT and codes(unsure) == ["reviewer_unsure"]
    assert "reviewer_b is unsure" in unsure.reasons[0].message and "photo 3" not in unsure.reasons[0].message
    assert unsure.reasons[0].photo == 1  # the photo with the strongest evidence for reviewer_b (all 0.2)


def test_out_of_distribution_photo_and_policy_rule_refer() -> None:
    odd = [*FULL_SET, photo(4, "detail", given=False, confidence=0.3)]
    verdict = decide(odd, {"reviewer_a": 0.0, "reviewer_b": 0.0}, POLICY)
    assert verdict.state is VerdictState.REFER_TO_EXPERT and codes(verdict) == ["out_of_distribution"]
    assert verdict.reasons[0].photo == 4
    ruled = POLICY.model_copy(update={"refer_categories": ["wallet"]})
    verdict = decide(FULL_SET, {"reviewer_a": 0.0, "reviewer_b": 0.0}, ruled, category="wallet")
    assert verdict.state is VerdictState.REFER_TO_EXPERT and codes(verdict) == ["policy_rule"]


def test_missing_reviewer_score_refers() -> None:
    verdict = decide(FULL_SET, {"reviewer_a": 0.0}, POLICY)
    assert verdict.state is VerdictState.REFER_TO_EXPERT and "reviewer_missing" in codes(verdict)


def test_bad_photos_and_missing_views_are_unable_to_verify_with_retake_advice() -> None:
    blurry = QualityReport(1024, 1024, 0.5, 0.4, 0.0, ("out of focus: retake it with the item in focus",))
    verdict = decide(
        [photo(1, "overall"), photo(2, "stamp", blurry)], {"reviewer_a": 0.0, "reviewer_b": 0.0}, POLICY
    )
    assert verdict.state is VerdictState.UNABLE_TO_VERIFY
    assert codes(verdict) == ["retake_photo", "missing_view"]
    assert verdict.reasons[0].photo == 2 and "Photo 2 is out of focus" in verdict.reasons[0].message
    assert "close-up of the stamp" in verdict.reasons[1].message
    only_overall = decide([photo(1, "overall")], {"reviewer_a": 0.0, "reviewer_b": 0.0}, POLICY)
    assert only_overall.state is VerdictState.UNABLE_TO_VERIFY and codes(only_overall) == ["missing_view"]


def test_high_value_items_get_a_provisional_ai_verdict() -> None:
    verdict = decide(FULL_SET, {"reviewer_a": 0.99, "reviewer_b": 0.99}, POLICY, declared_value=5000)
    assert verdict.state is VerdictState.COUNTERFEIT and verdict.provisional
    assert codes(verdict) == ["reviewers_agree", "value_escalation"]
    never = POLICY.model_copy(update={"provisional_at_value": None})
    assert not decide(
        FULL_SET, {"reviewer_a": 0.99, "reviewer_b": 0.99}, never, declared_value=1e9
    ).provisional


# What the uploader declares can add reasons for a human, never remove them (issue 18, finding 5).


def seen(index: int, given: str, predicted: str, confidence: float, was_given: bool = True):
    """A photo tagged `given` by the uploader in which the reviewers see `predicted`."""
    return PhotoAssessment(
        index, given, was_given, 0.9, GOOD, {"reviewer_a": 0.1, "reviewer_b": 0.2}, predicted, confidence
    )


SURE = {"reviewer_a": 0.01, "reviewer_b": 0.0}


def test_a_missing_declared_value_is_unknown_not_low() -> None:
    verdict = decide(FULL_SET, SURE, POLICY)
    assert verdict.state is VerdictState.AUTHENTIC and verdict.provisional
    assert codes(verdict) == ["reviewers_agree", "value_unknown"]
    trusting = POLICY.model_copy(update={"provisional_without_value": False})
    assert not decide(FULL_SET, SURE, trusting).provisional


def test_a_view_tag_counts_only_where_the_reviewers_see_that_view() -> None:
    honest = [
        seen(1, "overall", "overall", 0.95),
        seen(2, "stamp", "stamp", 0.9),
        seen(3, "hardware", "hardware", 0.9),
    ]
    assert codes(decide(honest, SURE, POLICY, declared_value=100)) == ["reviewers_agree"]
    # A hardware close-up tagged as the stamp: the stamp is missing, and the answer says why.
    relabelled = [honest[0], seen(2, "stamp", "hardware", 0.92), honest[2]]
    verdict = decide(relabelled, SURE, POLICY, declared_value=100)
    assert verdict.state is VerdictState.UNABLE_TO_VERIFY and codes(verdict) == [
        "missing_view",
        "view_mismatch",
    ]
    assert "Photo 2 was sent as close-up of the stamp but the reviewers see close-up of the hardware" in (
        verdict.reasons[1].message
    )
    # Views all present, one tag contradicted: an expert looks.
    extra = [*honest, seen(4, "hardware", "detail", 0.8)]
    verdict = decide(extra, SURE, POLICY, declared_value=100)
    assert verdict.state is VerdictState.REFER_TO_EXPERT and codes(verdict) == ["view_mismatch"]


def test_a_tag_no_longer_skips_the_out_of_distribution_check() -> None:
    odd = [*FULL_SET[:2], seen(3, "hardware", "hardware", 0.3)]
    verdict = decide(odd, SURE, POLICY, declared_value=100)
    assert verdict.state is VerdictState.REFER_TO_EXPERT and codes(verdict) == ["out_of_distribution"]


def test_a_declared_category_the_reviewers_contradict_refers() -> None:
    verdict = decide(FULL_SET, SURE, POLICY, 100, category="wallet", predicted_category=("tote", 0.9))
    assert verdict.state is VerdictState.REFER_TO_EXPERT and codes(verdict) == ["category_mismatch"]
    unsure = decide(FULL_SET, SURE, POLICY, 100, category="wallet", predicted_category=("tote", 0.3))
    assert unsure.state is VerdictState.AUTHENTIC
    # The always-refer rule holds for what the reviewers see, declared or not.
    ruled = POLICY.model_copy(update={"refer_categories": ["tote"]})
    verdict = decide(FULL_SET, SURE, ruled, 100, predicted_category=("tote", 0.9))
    assert codes(verdict) == ["policy_rule"]


@pytest.mark.parametrize(("score", "expected"), [(0.02, "authentic"), (0.5, "unsure"), (0.98, "counterfeit")])
def test_thresholds_are_inclusive(score: float, expected: str) -> None:
    assert reviewer_decision(score, POLICY.reviewers["reviewer_a"]) == expected


def test_quality_gate_catches_small_blurry_dark_and_blown_photos() -> None:
    rng = np.random.default_rng(0)
    texture = Image.fromarray(rng.integers(60, 200, (600, 600, 3), dtype=np.uint8))
    limits = QualityThresholds()
    assert assess_quality(texture, limits).ok
    assert "too small" in assess_quality(texture.resize((200, 150)), limits).problems[0]
    blurred = texture.filter(ImageFilter.GaussianBlur(12))
    assert any("out of focus" in p for p in assess_quality(blurred, limits).problems)
    dark = Image.fromarray((np.asarray(texture) // 20).astype(np.uint8))
    assert any("too dark" in p for p in assess_quality(dark, limits).problems)
    white = Image.new("RGB", (600, 600), (255, 255, 255))
    problems = assess_quality(white, limits).problems
    assert any("too bright" in p for p in problems) and any("pure black or white" in p for p in problems)
