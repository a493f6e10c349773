"""The appraisal API end to end, what appraisers and experts do with it: uploads and their verdicts,
heatmaps and history; the review rules (persons not keys, blind double review, arbitration) and the
export of final decisions. A real uvicorn on 127.0.0.1, real bundles, a real database.

Every test runs twice: against a SQLite file and against a real PostgreSQL server (`service`,
conftest.py). What the API refuses and survives: test_api_hardening.py."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import requests
from PIL import Image

from data.manifest import read_manifest
from tests.integration.service import (
    auth,
    item_photos,
    post_appraisal,
    referred_appraisal,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("service", ["sqlite", "postgresql"], indirect=True, scope="module"),
]


def test_an_appraiser_gets_a_verdict_with_findings_heatmaps_and_an_audit_entry(service) -> None:
    photos = item_photos(service["manifest"])
    response = post_appraisal(service, [b for _, b in photos], [v for v, _ in photos], declared_value="1200")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] in {"AUTHENTIC", "COUNTERFEIT", "REFER_TO_EXPERT"}
    assert set(body["reviewers"]) == {"reviewer_a", "reviewer_b"} and body["reasons"]
    assert [p["view"] for p in body["photos"]] == [v for v, _ in photos]
    assert body["reviewers"]["reviewer_a"]["model"]["version"] == "1"
    again = requests.get(
        f"{service['url']}/v1/appraisals/{body['id']}",
        headers={"Authorization": f"Bearer {service['keys']['appraiser']}"},
        timeout=30,
    )
    assert again.status_code == 200 and again.json()["state"] == body["state"]
    heat = requests.get(
        service["url"] + body["photos"][0]["heatmap_url"],
        headers={"Authorization": f"Bearer {service['keys']['appraiser']}"},
        timeout=30,
    )
    assert heat.status_code == 200 and heat.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(heat.content)).size == (128, 128)
    verified = service["cli"]("audit", "verify")
    assert verified.returncode == 0 and "intact" in verified.stdout


def test_missing_views_are_unable_to_verify(service) -> None:
    photos = item_photos(service["manifest"])
    response = post_appraisal(service, [photos[1][1]], [photos[1][0]])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "UNABLE_TO_VERIFY" and any(r["code"] == "missing_view" for r in body["reasons"])


def test_a_repeated_upload_of_an_item_is_linked_to_the_earlier_ones(service) -> None:
    first = referred_appraisal(service)
    photos = item_photos(service["manifest"])
    again = post_appraisal(service, [b for _, b in photos], [v for v, _ in photos]).json()
    assert again["state"] == "REFER_TO_EXPERT"
    repeated = [r for r in again["reasons"] if r["code"] == "repeated_upload"]
    assert repeated and first in repeated[0]["message"], again["reasons"]
    # A retake after "unable to verify" is what that answer asked for: not a repeat. (The
    # manifest's last item, which no other test uploads.)
    other = item_photos(service["manifest"], -1)
    unable = post_appraisal(service, [b for v, b in other if v == "overall"], ["overall"]).json()
    assert unable["state"] == "UNABLE_TO_VERIFY", unable["reasons"]
    retaken = post_appraisal(service, [b for _, b in other], [v for v, _ in other]).json()
    assert retaken["state"] == "REFER_TO_EXPERT"
    assert all(r["code"] != "repeated_upload" for r in retaken["reasons"]), retaken["reasons"]


def _review(service, who: str, appraisal_id: str, decision: str) -> requests.Response:
    return requests.post(
        f"{service['url']}/v1/appraisals/{appraisal_id}/reviews",
        json={"decision": decision, "note": f"{who} looked at the stamp"},
        headers=auth(service, who),
        timeout=30,
    )


def test_review_rules_compare_persons_not_keys(service) -> None:
    """One person's keys count as one reviewer: no double review with two expert keys, no
    review of what the same person uploaded with an appraiser key; admin keys do not review."""
    url = service["url"]

    def key(name: str, role: str, person: str) -> dict[str, str]:
        created = service["cli"]("keys", "create", "--role", role, "--name", name, "--person", person)
        assert created.returncode == 0, created.stderr
        return {"Authorization": f"Bearer {created.stdout.strip().rsplit(' ', 1)[-1]}"}

    dana_shop, dana_expert = key("dana shop", "appraiser", "dana"), key("dana review", "expert", "dana")
    eve_1, eve_2 = key("eve laptop", "expert", "eve"), key("eve phone", "expert", "eve")
    photos = item_photos(service["manifest"])
    files = [("photos", (f"p{i}.jpg", b, "image/jpeg")) for i, (_, b) in enumerate(photos)]
    upload = requests.post(
        f"{url}/v1/appraisals",
        files=files,
        data=[("views", v) for v, _ in photos],
        headers=dana_shop,
        timeout=60,
    )
    assert upload.status_code == 201 and upload.json()["status"] == "awaiting_review", upload.text
    item = upload.json()["id"]

    def review(headers: dict[str, str]) -> requests.Response:
        body = {"decision": "AUTHENTIC", "note": None}
        return requests.post(f"{url}/v1/appraisals/{item}/reviews", json=body, headers=headers, timeout=30)

    queue = requests.get(f"{url}/v1/review-queue", headers=dana_expert, timeout=30).json()
    assert item not in [q["id"] for q in queue]
    own = review(dana_expert)
    assert own.status_code == 403 and "you uploaded this item" in own.json()["detail"]
    assert review(eve_1).status_code == 201
    again = review(eve_2)
    assert again.status_code == 409 and "already reviewed" in again.json()["detail"]
    assert item not in [
        q["id"] for q in requests.get(f"{url}/v1/review-queue", headers=eve_2, timeout=30).json()
    ]
    as_admin = auth(service, "admin")
    assert review(as_admin).status_code == 403
    assert requests.get(f"{url}/v1/review-queue", headers=as_admin, timeout=30).status_code == 403


def test_blind_double_review_then_arbitration(service) -> None:
    url = service["url"]
    item = referred_appraisal(service)
    queue = requests.get(f"{url}/v1/review-queue", headers=auth(service, "expert"), timeout=30).json()
    assert item in [q["id"] for q in queue]
    assert all(q["decisions"] == ["AUTHENTIC", "COUNTERFEIT"] for q in queue)
    assert _review(service, "appraiser", item, "AUTHENTIC").status_code == 403  # appraisers do not review
    first = _review(service, "expert", item, "AUTHENTIC")
    assert first.status_code == 201 and first.json()["status"] == "awaiting_review"
    assert _review(service, "expert", item, "AUTHENTIC").status_code == 409  # not twice
    # blind: the second expert sees neither the first review nor who wrote it
    hidden = requests.get(f"{url}/v1/appraisals/{item}/reviews", headers=auth(service, "expert2"), timeout=30)
    assert hidden.status_code == 403 and "blind" in hidden.json()["type"]
    seen = requests.get(f"{url}/v1/appraisals/{item}", headers=auth(service, "expert2"), timeout=30).json()
    assert "AUTHENTIC" not in str(seen.get("final_state")) and "looked at the stamp" not in str(seen)
    assert item not in [
        q["id"]
        for q in requests.get(f"{url}/v1/review-queue", headers=auth(service, "expert"), timeout=30).json()
    ]
    assert _review(service, "arbiter", item, "AUTHENTIC").status_code == 409  # not yet in arbitration
    second = _review(service, "expert2", item, "COUNTERFEIT")
    assert second.status_code == 201 and second.json()["status"] == "arbitration"
    after = requests.get(
        f"{url}/v1/appraisals/{item}/reviews", headers=auth(service, "expert2"), timeout=30
    ).json()
    assert sorted(r["decision"] for r in after) == ["AUTHENTIC", "COUNTERFEIT"]
    queue = requests.get(f"{url}/v1/review-queue", headers=auth(service, "arbiter"), timeout=30).json()
    assert item in [q["id"] for q in queue]
    assert all(q["decisions"] == ["AUTHENTIC", "COUNTERFEIT", "INCONCLUSIVE"] for q in queue)
    final = _review(service, "arbiter", item, "INCONCLUSIVE")
    assert final.status_code == 201 and final.json() == {
        "appraisal_id": item,
        "stage": "arbiter",
        "decision": "INCONCLUSIVE",
        "status": "final",
        "final_state": "INCONCLUSIVE",
    }
    verified = service["cli"]("audit", "verify")
    assert verified.returncode == 0, verified.stderr


AI_FIELDS = {"state", "provisional", "reasons", "reviewers", "final_state", "timings_ms"}


def test_reviewers_get_only_photos_and_findings_until_they_have_reviewed(service) -> None:
    """Blind review is the API's rule, not the page's: no verdict, score, reason, evidence or
    heatmap before an expert submits, and no other customer's appraisals at all."""
    url = service["url"]
    item = referred_appraisal(service)
    as_expert = auth(service, "expert")
    queue = requests.get(f"{url}/v1/review-queue", headers=as_expert, timeout=30).json()
    entry = next(q for q in queue if q["id"] == item)
    assert not AI_FIELDS & set(entry)
    blind = requests.get(f"{url}/v1/appraisals/{item}", headers=as_expert, timeout=30).json()
    assert blind["blind"] is True and not AI_FIELDS & set(blind)
    assert blind["photos"] and all({"evidence", "heatmap_url"}.isdisjoint(p) for p in blind["photos"])
    assert blind["photos"][0]["labels"] and "grade" in blind["condition"]  # the findings stay
    photo = requests.get(f"{url}/v1/appraisals/{item}/photos/1", headers=as_expert, timeout=30)
    assert photo.status_code == 200 and photo.headers["content-type"] == "image/jpeg"
    heatmap = requests.get(f"{url}/v1/appraisals/{item}/photos/1/heatmap", headers=as_expert, timeout=30)
    assert heatmap.status_code == 403 and heatmap.json()["type"].endswith("/blind-review")
    listed = requests.get(f"{url}/v1/appraisals", headers=as_expert, timeout=30).json()
    assert item not in [a["id"] for a in listed]  # no browsing of customers' appraisals
    # an item that is not in the expert's queue (sent back for new photos) is not theirs to see
    photos = item_photos(service["manifest"])
    retake = post_appraisal(service, [photos[1][1]], [photos[1][0]]).json()["id"]
    for path in (f"/v1/appraisals/{retake}", f"/v1/appraisals/{retake}/photos/1"):
        assert requests.get(f"{url}{path}", headers=as_expert, timeout=30).status_code == 404
    assert (
        requests.get(f"{url}/v1/appraisals/{item}", headers=auth(service, "arbiter"), timeout=30).status_code
        == 404
    )
    # once the expert has submitted, the whole appraisal is theirs to see
    assert _review(service, "expert", item, "AUTHENTIC").status_code == 201
    full = requests.get(f"{url}/v1/appraisals/{item}", headers=as_expert, timeout=30).json()
    assert full["state"] == "REFER_TO_EXPERT" and "reviewers" in full and "heatmap_url" in full["photos"][0]
    assert item in [
        a["id"] for a in requests.get(f"{url}/v1/appraisals", headers=as_expert, timeout=30).json()
    ]


def test_two_agreeing_experts_make_the_verdict_final(service) -> None:
    item = referred_appraisal(service)
    assert _review(service, "expert", item, "COUNTERFEIT").status_code == 201
    done = _review(service, "expert2", item, "COUNTERFEIT").json()
    assert done["status"] == "final" and done["final_state"] == "COUNTERFEIT"
    body = requests.get(
        f"{service['url']}/v1/appraisals/{item}", headers=auth(service, "appraiser"), timeout=30
    )
    assert body.json()["final_state"] == "COUNTERFEIT"
    assert _review(service, "arbiter", item, "AUTHENTIC").status_code == 409
    bad = _review(service, "expert", referred_appraisal(service), "MAYBE")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_expert_final_decisions_export_as_a_valid_labelled_manifest(service, tmp_path: Path) -> None:
    item = referred_appraisal(service)
    assert _review(service, "expert", item, "AUTHENTIC").status_code == 201
    assert _review(service, "expert2", item, "AUTHENTIC").json()["final_state"] == "AUTHENTIC"
    out = tmp_path / "reviewed.csv"
    exported = service["cli"]("reviews", "export", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    frame = read_manifest(out)
    assert (
        item in set(frame["item_id"])
        and (frame.loc[frame["item_id"] == item, "authenticity"] == "authentic").all()
    )
    assert set(frame["authenticity"]) <= {"authentic", "counterfeit"}  # INCONCLUSIVE items are left out
    validated = service["cli"]("data", "validate", str(out))
    assert validated.returncode == 0, validated.stdout + validated.stderr


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_cmyk_and_exif_rotated_photos_are_appraised_upright(service) -> None:
    cmyk = _encode(Image.new("CMYK", (300, 300), (0, 120, 200, 10)), "JPEG", quality=90)
    assert post_appraisal(service, [cmyk], ["stamp"]).status_code == 201
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated a quarter turn: portrait
    rotated = _encode(Image.new("RGB", (400, 200), (90, 60, 40)), "JPEG", quality=90, exif=exif)
    body = post_appraisal(service, [rotated], ["overall"]).json()
    heat = requests.get(
        service["url"] + body["photos"][0]["heatmap_url"], headers=auth(service, "appraiser"), timeout=30
    )
    assert Image.open(io.BytesIO(heat.content)).size == (200, 400)


def test_a_heatmap_is_rendered_once_at_a_bounded_size_and_then_only_read(service) -> None:
    """A 4000 x 3000 photo's heatmap is stored at 1024 x 768 when it is appraised; every
    request serves those same bytes (no decoding, no model run per request)."""
    big = _encode(Image.new("RGB", (4000, 3000), (120, 80, 50)), "JPEG", quality=80)
    body = post_appraisal(service, [big], ["overall"]).json()
    url = service["url"] + body["photos"][0]["heatmap_url"]
    first, second = (requests.get(url, headers=auth(service, "appraiser"), timeout=30) for _ in range(2))
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(first.content)).size == (1024, 768)
    assert first.content == second.content


def test_history_filters_by_verdict_and_date_and_keeps_appraisers_apart(service) -> None:
    import datetime as dt

    url = service["url"]
    start = dt.datetime.now(dt.timezone.utc).isoformat()
    item = referred_appraisal(service)
    mine = requests.get(
        f"{url}/v1/appraisals", params={"since": start}, headers=auth(service, "appraiser"), timeout=30
    )
    assert mine.status_code == 200 and item in [a["id"] for a in mine.json()]
    unable = requests.get(
        f"{url}/v1/appraisals",
        params={"verdict": "UNABLE_TO_VERIFY"},
        headers=auth(service, "appraiser"),
        timeout=30,
    ).json()
    assert all(a["state"] == "UNABLE_TO_VERIFY" for a in unable) and item not in [a["id"] for a in unable]
    theirs = requests.get(f"{url}/v1/appraisals", headers=auth(service, "hasty"), timeout=30).json()
    assert item not in [a["id"] for a in theirs]  # another appraiser's items stay hidden
    future = requests.get(
        f"{url}/v1/appraisals",
        params={"until": "2000-01-01T00:00:00"},
        headers=auth(service, "expert"),
        timeout=30,
    )
    assert future.status_code == 200 and future.json() == []
    bad = requests.get(
        f"{url}/v1/appraisals", params={"verdict": "FAKE"}, headers=auth(service, "expert"), timeout=30
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    number = requests.get(  # the schema says date-time: a number is not read as Unix time
        f"{url}/v1/appraisals", params={"until": "4927300059252"}, headers=auth(service, "expert"), timeout=30
    )
    assert number.status_code == 422 and "ISO 8601" in number.json()["detail"]
    allowed = requests.delete(f"{url}/v1/appraisals/x/reviews", headers=auth(service, "expert"), timeout=30)
    assert allowed.status_code == 405 and allowed.headers["allow"] == "GET, HEAD, POST"
