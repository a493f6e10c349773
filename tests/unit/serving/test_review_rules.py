"""Blind double review and arbitration rules, on constructed facts."""

from __future__ import annotations

import pytest

from serving.review import ReviewFacts, ReviewRefused, after_review, check_review, initial_status

UPLOADER, ANA, BEN, CARL = "uma", "ana", "ben", "carl"  # persons


def test_only_uncertain_or_provisional_items_enter_review() -> None:
    assert initial_status("REFER_TO_EXPERT", False) == "awaiting_review"
    assert initial_status("AUTHENTIC", True) == "awaiting_review"
    assert initial_status("COUNTERFEIT", False) == "decided"
    assert initial_status("UNABLE_TO_VERIFY", False) == "retake_requested"


def test_two_agreeing_experts_make_it_final() -> None:
    facts = ReviewFacts("awaiting_review", UPLOADER, ())
    assert check_review(facts, ANA, "expert", "COUNTERFEIT") == "expert"
    assert after_review(facts, "expert", "COUNTERFEIT") == ("awaiting_review", None)
    facts = ReviewFacts("awaiting_review", UPLOADER, ((ANA, "COUNTERFEIT"),))
    assert after_review(facts, "expert", "COUNTERFEIT") == ("final", "COUNTERFEIT")


def test_disagreement_goes_to_an_arbiter_whose_word_is_final() -> None:
    facts = ReviewFacts("awaiting_review", UPLOADER, ((ANA, "AUTHENTIC"),))
    assert after_review(facts, "expert", "COUNTERFEIT") == ("arbitration", None)
    arbitration = ReviewFacts("arbitration", UPLOADER, ((ANA, "AUTHENTIC"), (BEN, "COUNTERFEIT")))
    assert check_review(arbitration, CARL, "arbiter", "INCONCLUSIVE") == "arbiter"
    assert after_review(arbitration, "arbiter", "INCONCLUSIVE") == ("final", "INCONCLUSIVE")


@pytest.mark.parametrize(
    ("facts", "who", "role", "decision", "status", "words"),
    [
        (ReviewFacts("awaiting_review", UPLOADER, ()), UPLOADER, "expert", "AUTHENTIC", 403, "uploaded"),
        (
            ReviewFacts("awaiting_review", UPLOADER, ((ANA, "AUTHENTIC"),)),
            ANA,
            "expert",
            "AUTHENTIC",
            409,
            "already",
        ),
        (ReviewFacts("decided", UPLOADER, ()), ANA, "expert", "AUTHENTIC", 409, "not awaiting expert"),
        (
            ReviewFacts("awaiting_review", UPLOADER, ()),
            ANA,
            "expert",
            "INCONCLUSIVE",
            422,
            "an expert decides",
        ),
        (
            ReviewFacts("awaiting_review", UPLOADER, ()),
            CARL,
            "arbiter",
            "AUTHENTIC",
            409,
            "not awaiting arbitration",
        ),
        (
            ReviewFacts("arbitration", UPLOADER, ((ANA, "AUTHENTIC"), (BEN, "COUNTERFEIT"))),
            ANA,
            "arbiter",
            "AUTHENTIC",
            409,
            "already",
        ),
    ],
    ids=[
        "own upload",
        "twice",
        "not in review",
        "expert inconclusive",
        "arbiter too early",
        "arbiter was expert",
    ],
)
def test_forbidden_reviews_are_refused(facts, who, role, decision, status, words) -> None:
    with pytest.raises(ReviewRefused, match=words) as refused:
        check_review(facts, who, role, decision)
    assert refused.value.status == status
