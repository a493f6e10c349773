"""Blind double review and arbitration rules, on constructed facts."""

from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace
from typing import get_args

import pytest

from serving.review import (
    ARBITER_DECISIONS,
    ReviewFacts,
    ReviewRefused,
    ReviewStage,
    ReviewStatus,
    after_review,
    check_review,
    initial_status,
)

UPLOADER, ANA, BEN, CARL = "uma", "ana", "ben", "carl"  # persons


def test_only_uncertain_or_provisional_items_enter_review() -> None:
    assert initial_status("REFER_TO_EXPERT", False) is ReviewStatus.AWAITING_REVIEW
    assert initial_status("AUTHENTIC", True) is ReviewStatus.AWAITING_REVIEW
    assert initial_status("COUNTERFEIT", False) is ReviewStatus.DECIDED
    assert initial_status("UNABLE_TO_VERIFY", False) is ReviewStatus.RETAKE_REQUESTED


def test_two_agreeing_experts_make_it_final() -> None:
    facts = ReviewFacts(ReviewStatus.AWAITING_REVIEW, UPLOADER, ())
    assert check_review(facts, ANA, "expert", "COUNTERFEIT") is ReviewStage.EXPERT
    assert after_review(facts, ReviewStage.EXPERT, "COUNTERFEIT") == (ReviewStatus.AWAITING_REVIEW, None)
    facts = ReviewFacts(ReviewStatus.AWAITING_REVIEW, UPLOADER, ((ANA, "COUNTERFEIT"),))
    assert after_review(facts, ReviewStage.EXPERT, "COUNTERFEIT") == (ReviewStatus.FINAL, "COUNTERFEIT")


def test_disagreement_goes_to_an_arbiter_whose_word_is_final() -> None:
    facts = ReviewFacts(ReviewStatus.AWAITING_REVIEW, UPLOADER, ((ANA, "AUTHENTIC"),))
    assert after_review(facts, ReviewStage.EXPERT, "COUNTERFEIT") == (ReviewStatus.ARBITRATION, None)
    arbitration = ReviewFacts(ReviewStatus.ARBITRATION, UPLOADER, ((ANA, "AUTHENTIC"), (BEN, "COUNTERFEIT")))
    assert check_review(arbitration, CARL, "arbiter", "INCONCLUSIVE") is ReviewStage.ARBITER
    assert after_review(arbitration, ReviewStage.ARBITER, "INCONCLUSIVE") == (
        ReviewStatus.FINAL,
        "INCONCLUSIVE",
    )


@pytest.mark.parametrize(
    ("facts", "who", "role", "decision", "status", "words"),
    [
        (
            ReviewFacts(ReviewStatus.AWAITING_REVIEW, UPLOADER, ()),
            UPLOADER,
            "expert",
            "AUTHENTIC",
            403,
            "uploaded",
        ),
        (
            ReviewFacts(ReviewStatus.AWAITING_REVIEW, UPLOADER, ((ANA, "AUTHENTIC"),)),
            ANA,
            "expert",
            "AUTHENTIC",
            409,
            "already",
        ),
        (
            ReviewFacts(ReviewStatus.DECIDED, UPLOADER, ()),
            ANA,
            "expert",
            "AUTHENTIC",
            409,
            "not awaiting expert",
        ),
        (
            ReviewFacts(ReviewStatus.AWAITING_REVIEW, UPLOADER, ()),
            ANA,
            "expert",
            "INCONCLUSIVE",
            422,
            "an expert decides",
        ),
        (
            ReviewFacts(ReviewStatus.AWAITING_REVIEW, UPLOADER, ()),
            CARL,
            "arbiter",
            "AUTHENTIC",
            409,
            "not awaiting arbitration",
        ),
        (
            ReviewFacts(ReviewStatus.ARBITRATION, UPLOADER, ((ANA, "AUTHENTIC"), (BEN, "COUNTERFEIT"))),
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


def test_statuses_and_stages_keep_their_stored_values() -> None:
    """The database and the API hold these strings: the enums must not change them."""
    assert [s.value for s in ReviewStatus] == [
        "decided",
        "awaiting_review",
        "arbitration",
        "final",
        "retake_requested",
    ]
    assert [s.value for s in ReviewStage] == ["expert", "arbiter"]
    # stored as, compared with, printed and written to the audit trail as the plain value
    assert ReviewStatus.FINAL == "final" and ReviewStatus("final") is ReviewStatus.FINAL
    assert f"{ReviewStatus.AWAITING_REVIEW} review.{ReviewStage.ARBITER}" == "awaiting_review review.arbiter"
    assert json.dumps({"status": ReviewStatus.FINAL}) == '{"status": "final"}'
    assert sqlite3.connect(":memory:").execute("SELECT ?", (ReviewStatus.FINAL,)).fetchone() == ("final",)


def test_a_refusal_names_the_status_by_its_value() -> None:
    with pytest.raises(ReviewRefused, match=r"\(status decided\)$"):
        check_review(ReviewFacts(ReviewStatus.DECIDED, UPLOADER, ()), ANA, "expert", "AUTHENTIC")


def test_a_review_body_offers_exactly_the_arbiters_decisions() -> None:
    from serving.api.routes.reviews import ReviewIn

    assert set(get_args(ReviewIn.model_fields["decision"].annotation)) == set(ARBITER_DECISIONS)


def test_the_page_is_served_every_status_with_its_wording() -> None:
    from serving.api.routes.me import form_options

    state = SimpleNamespace(panel=None, settings=SimpleNamespace(max_photos=12, max_file_bytes=1))
    statuses = form_options(state, caller=None).model_dump(mode="json")["statuses"]
    assert [s["value"] for s in statuses] == [s.value for s in ReviewStatus]
    assert all(s["label"] for s in statuses)
    assert {s["value"] for s in statuses if s["in_review"]} == {"awaiting_review", "arbitration"}
