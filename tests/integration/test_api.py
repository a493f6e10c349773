"""The appraisal API end to end: a real uvicorn on 127.0.0.1, real bundles, a real database.

Every test runs twice: against a SQLite file and against a real PostgreSQL server."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from data.manifest import read_manifest
from tests.integration.service import free_port, item_photos, running_service, wait_until_ready

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest,
    deployment: Path,
    tiny_manifest: Path,
    tmp_path_factory: pytest.TempPathFactory,
):
    root = tmp_path_factory.mktemp("service")
    if request.param == "sqlite":
        database_url = f"sqlite:///{root / 'db.sqlite'}"
    else:
        from tests.postgres import create_database

        database_url = create_database(request.getfixturevalue("postgres_server"))
    with running_service(root, deployment, tiny_manifest, database_url) as service:
        yield service


def _post(service, photos, views=None, key="appraiser", **fields):
    files = [("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    data = [("views", v) for v in views or []] + list(fields.items())
    headers = {"Authorization": f"Bearer {service['keys'][key]}"} if key else {}
    return requests.post(
        f"{service['url']}/v1/appraisals", files=files, data=data, headers=headers, timeout=60
    )


def test_an_appraiser_gets_a_verdict_with_findings_heatmaps_and_an_audit_entry(service) -> None:
    photos = item_photos(service["manifest"])
    response = _post(service, [b for _, b in photos], [v for v, _ in photos], declared_value="1200")
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
    response = _post(service, [photos[1][1]], [photos[1][0]])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "UNABLE_TO_VERIFY" and any(r["code"] == "missing_view" for r in body["reasons"])


def _png16() -> bytes:
    buffer = io.BytesIO()
    Image.new("I;16", (200, 200), 30000).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 422, "photo-empty"),
        (b"%PDF-1.4 not a photo", 422, "photo-"),
        (None, 422, "photo-"),  # truncated JPEG
    ],
    ids=["zero bytes", "pdf named jpg", "truncated jpeg"],
)
def test_bad_uploads_get_problem_details_not_server_errors(service, payload, status, code) -> None:
    if payload is None:
        payload = item_photos(service["manifest"])[0][1][:300]
    response = _post(service, [payload])
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and code in problem["type"] and "photo 1" in problem["detail"]


def test_a_16_bit_png_is_decoded_not_refused(service) -> None:
    response = _post(service, [_png16()], ["stamp"])
    assert response.status_code == 201, response.text


def test_keys_and_roles_are_enforced(service) -> None:
    photos = [item_photos(service["manifest"])[0][1]]
    assert _post(service, photos, key=None).status_code == 401
    forbidden = _post(service, photos, key="expert")
    assert forbidden.status_code == 403 and forbidden.json()["type"].endswith("forbidden")
    wrong = requests.get(f"{service['url']}/v1/appraisals/x", headers={"X-API-Key": "sl_nope"}, timeout=10)
    assert wrong.status_code == 401
    assert requests.get(f"{service['url']}/healthz", timeout=10).status_code == 200


def test_bad_form_fields_are_named(service) -> None:
    photos = [item_photos(service["manifest"])[0][1]]
    unknown_view = _post(service, photos, ["side"])
    assert unknown_view.status_code == 422 and "unknown view side" in unknown_view.json()["detail"]
    negative = _post(service, photos, declared_value="-5")
    assert negative.status_code == 422 and "declared_value" in negative.json()["detail"]
    endless = _post(service, photos, declared_value="inf")
    assert endless.status_code == 422 and "declared_value" in endless.json()["detail"]
    too_many = _post(service, photos * 13)  # the form parser stops at the 13th file
    assert (
        too_many.status_code == 400 and "maximum number of files is 12" in too_many.json()["detail"].lower()
    )


def _as(service, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service['keys'][who]}"}


def _referred(service) -> str:
    """A new appraisal that awaits expert review (the smoke reviewers are never sure)."""
    photos = item_photos(service["manifest"])
    body = _post(service, [b for _, b in photos], [v for v, _ in photos]).json()
    assert body["state"] == "REFER_TO_EXPERT" and body["status"] == "awaiting_review", body
    return body["id"]


def test_a_repeated_upload_of_an_item_is_linked_to_the_earlier_ones(service) -> None:
    first = _referred(service)
    photos = item_photos(service["manifest"])
    again = _post(service, [b for _, b in photos], [v for v, _ in photos]).json()
    assert again["state"] == "REFER_TO_EXPERT"
    repeated = [r for r in again["reasons"] if r["code"] == "repeated_upload"]
    assert repeated and first in repeated[0]["message"], again["reasons"]
    # A retake after "unable to verify" is what that answer asked for: not a repeat. (The
    # manifest's last item, which no other test uploads.)
    other = item_photos(service["manifest"], -1)
    unable = _post(service, [b for v, b in other if v == "overall"], ["overall"]).json()
    assert unable["state"] == "UNABLE_TO_VERIFY", unable["reasons"]
    retaken = _post(service, [b for _, b in other], [v for v, _ in other]).json()
    assert retaken["state"] == "REFER_TO_EXPERT"
    assert all(r["code"] != "repeated_upload" for r in retaken["reasons"]), retaken["reasons"]


def _review(service, who: str, appraisal_id: str, decision: str) -> requests.Response:
    return requests.post(
        f"{service['url']}/v1/appraisals/{appraisal_id}/reviews",
        json={"decision": decision, "note": f"{who} looked at the stamp"},
        headers=_as(service, who),
        timeout=30,
    )


def test_a_revoked_key_is_refused_from_the_next_request(service) -> None:
    created = service["cli"]("keys", "create", "--role", "appraiser", "--name", "leaver")
    key_id, secret = created.stdout.split()[1], created.stdout.strip().rsplit(" ", 1)[-1]
    headers = {"Authorization": f"Bearer {secret}"}
    assert requests.get(f"{service['url']}/v1/appraisals", headers=headers, timeout=30).status_code == 200
    revoked = service["cli"]("keys", "revoke", key_id)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    assert requests.get(f"{service['url']}/v1/appraisals", headers=headers, timeout=30).status_code == 401
    listed = service["cli"]("keys", "list").stdout
    assert any(line.startswith(f"{key_id}\t") and line.endswith("revoked") for line in listed.splitlines())
    unknown = service["cli"]("keys", "revoke", "999999")
    assert (
        unknown.returncode == 1
        and unknown.stderr.strip() == "Error: no API key 999999; `secondlook keys list` shows them"
    )
    verified = service["cli"]("audit", "verify")
    assert verified.returncode == 0, verified.stderr


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
    as_admin = _as(service, "admin")
    assert review(as_admin).status_code == 403
    assert requests.get(f"{url}/v1/review-queue", headers=as_admin, timeout=30).status_code == 403


def test_blind_double_review_then_arbitration(service) -> None:
    url = service["url"]
    item = _referred(service)
    queue = requests.get(f"{url}/v1/review-queue", headers=_as(service, "expert"), timeout=30).json()
    assert item in [q["id"] for q in queue]
    assert all(q["decisions"] == ["AUTHENTIC", "COUNTERFEIT"] for q in queue)
    assert _review(service, "appraiser", item, "AUTHENTIC").status_code == 403  # appraisers do not review
    first = _review(service, "expert", item, "AUTHENTIC")
    assert first.status_code == 201 and first.json()["status"] == "awaiting_review"
    assert _review(service, "expert", item, "AUTHENTIC").status_code == 409  # not twice
    # blind: the second expert sees neither the first review nor who wrote it
    hidden = requests.get(f"{url}/v1/appraisals/{item}/reviews", headers=_as(service, "expert2"), timeout=30)
    assert hidden.status_code == 403 and "blind" in hidden.json()["type"]
    seen = requests.get(f"{url}/v1/appraisals/{item}", headers=_as(service, "expert2"), timeout=30).json()
    assert "AUTHENTIC" not in str(seen.get("final_state")) and "looked at the stamp" not in str(seen)
    assert item not in [
        q["id"]
        for q in requests.get(f"{url}/v1/review-queue", headers=_as(service, "expert"), timeout=30).json()
    ]
    assert _review(service, "arbiter", item, "AUTHENTIC").status_code == 409  # not yet in arbitration
    second = _review(service, "expert2", item, "COUNTERFEIT")
    assert second.status_code == 201 and second.json()["status"] == "arbitration"
    after = requests.get(
        f"{url}/v1/appraisals/{item}/reviews", headers=_as(service, "expert2"), timeout=30
    ).json()
    assert sorted(r["decision"] for r in after) == ["AUTHENTIC", "COUNTERFEIT"]
    queue = requests.get(f"{url}/v1/review-queue", headers=_as(service, "arbiter"), timeout=30).json()
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
    item = _referred(service)
    as_expert = _as(service, "expert")
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
    retake = _post(service, [photos[1][1]], [photos[1][0]]).json()["id"]
    for path in (f"/v1/appraisals/{retake}", f"/v1/appraisals/{retake}/photos/1"):
        assert requests.get(f"{url}{path}", headers=as_expert, timeout=30).status_code == 404
    assert (
        requests.get(f"{url}/v1/appraisals/{item}", headers=_as(service, "arbiter"), timeout=30).status_code
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
    item = _referred(service)
    assert _review(service, "expert", item, "COUNTERFEIT").status_code == 201
    done = _review(service, "expert2", item, "COUNTERFEIT").json()
    assert done["status"] == "final" and done["final_state"] == "COUNTERFEIT"
    body = requests.get(
        f"{service['url']}/v1/appraisals/{item}", headers=_as(service, "appraiser"), timeout=30
    )
    assert body.json()["final_state"] == "COUNTERFEIT"
    assert _review(service, "arbiter", item, "AUTHENTIC").status_code == 409
    bad = _review(service, "expert", _referred(service), "MAYBE")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")


def test_expert_final_decisions_export_as_a_valid_labelled_manifest(service, tmp_path: Path) -> None:
    item = _referred(service)
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


def test_metrics_request_ids_and_the_body_limit(service) -> None:
    url = service["url"]
    response = requests.get(f"{url}/healthz", headers={"X-Request-Id": "abc123"}, timeout=10)
    assert response.headers["x-request-id"] == "abc123"
    assert len(requests.get(f"{url}/healthz", timeout=10).headers["x-request-id"]) == 32
    _referred(service)
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 401  # verdict counts need a key
    assert requests.get(f"{url}/metrics", headers=_as(service, "appraiser"), timeout=10).status_code == 403
    metrics = requests.get(f"{url}/metrics", headers=_as(service, "monitor"), timeout=10).text
    assert 'secondlook_verdicts_total{state="REFER_TO_EXPERT"}' in metrics
    assert "secondlook_request_seconds_bucket" in metrics and "secondlook_inference_seconds_count" in metrics
    huge = _post(service, [b"\xff\xd8" + b"x" * 3_000_000])  # over the 2 MB limit of this server
    assert huge.status_code == 413, huge.text + service["log"].read_text()[-3000:]
    assert huge.headers["content-type"].startswith("application/problem+json")


PART = b'--xyz\r\nContent-Disposition: form-data; name="photos"; filename="a.jpg"\r\n\r\n'


def _raw_chunked_post(service, path: str, headers: dict[str, str], chunks: int, chunk_bytes: int) -> str:
    """POST a chunked multipart body that never ends (one photo part that goes on, and no
    terminating chunk) over a raw socket and return what the server answers within 20 s: it can
    only answer by refusing the body early."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(service["url"])
    head = [f"POST {path} HTTP/1.1", f"Host: {where.netloc}", "Transfer-Encoding: chunked"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    with socket.create_connection((where.hostname, where.port), timeout=20) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.sendall(f"{len(PART):x}\r\n".encode() + PART + b"\r\n")
        chunk = f"{chunk_bytes:x}\r\n".encode() + b"x" * chunk_bytes + b"\r\n"
        try:
            for _ in range(chunks):
                sock.sendall(chunk)
        except OSError:  # the server may close the socket once it has refused the body
            pass
        answer = b""
        try:
            while not _complete(answer):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except TimeoutError:
            pass
    return answer.decode("latin-1")


def _complete(answer: bytes) -> bool:
    """A whole HTTP response: its head and as many body bytes as its Content-Length says."""
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def test_a_body_without_a_valid_key_is_refused_before_it_is_read(service) -> None:
    """401 while the chunked upload is still open: the key is checked before the form is parsed."""
    form = {"Content-Type": "multipart/form-data; boundary=xyz"}
    for headers in (form, {**form, "Authorization": "Bearer not-a-key"}):
        answer = _raw_chunked_post(service, "/v1/appraisals", headers, chunks=4, chunk_bytes=65536)
        assert answer.startswith("HTTP/1.1 401"), answer[:300] or "no answer within 20 s"
        assert "application/problem+json" in answer


def test_a_chunked_body_is_counted_as_it_streams_and_stopped_at_the_limit(service) -> None:
    """No Content-Length to check: 413 once 2 MB (this server's limit) have streamed in."""
    headers = {
        "Content-Type": "multipart/form-data; boundary=xyz",
        "Authorization": f"Bearer {service['keys']['appraiser']}",
    }
    answer = _raw_chunked_post(service, "/v1/appraisals", headers, chunks=12, chunk_bytes=256 * 1024)
    assert answer.startswith("HTTP/1.1 413"), answer[:300] or "no answer within 20 s"
    assert "application/problem+json" in answer and "request-too-large" in answer


def test_a_form_holds_no_more_parts_than_an_appraisal_needs(service) -> None:
    photos = item_photos(service["manifest"])
    many_fields = _post(service, [photos[0][1]], views=["overall"] * 200)
    assert many_fields.status_code == 400, many_fields.text
    assert "fields" in many_fields.json()["detail"].lower()
    many_files = _post(service, [photos[0][1]] * 40)
    assert many_files.status_code == 400 and "files" in many_files.json()["detail"].lower(), many_files.text


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_bomb(side: int = 20_000) -> bytes:
    """A valid 1-bit PNG of side x side pixels that compresses to a few dozen KB."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row * 1000) for _ in range(side // 1000)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding(service) -> None:
    response = _post(service, [_png_bomb()])
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("photo-too-many-pixels")


def test_cmyk_and_exif_rotated_photos_are_appraised_upright(service) -> None:
    cmyk = _encode(Image.new("CMYK", (300, 300), (0, 120, 200, 10)), "JPEG", quality=90)
    assert _post(service, [cmyk], ["stamp"]).status_code == 201
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated a quarter turn: portrait
    rotated = _encode(Image.new("RGB", (400, 200), (90, 60, 40)), "JPEG", quality=90, exif=exif)
    body = _post(service, [rotated], ["overall"]).json()
    heat = requests.get(
        service["url"] + body["photos"][0]["heatmap_url"], headers=_as(service, "appraiser"), timeout=30
    )
    assert Image.open(io.BytesIO(heat.content)).size == (200, 400)


def test_a_heatmap_is_rendered_once_at_a_bounded_size_and_then_only_read(service) -> None:
    """A 4000 x 3000 photo's heatmap is stored at 1024 x 768 when it is appraised; every
    request serves those same bytes (no decoding, no model run per request)."""
    big = _encode(Image.new("RGB", (4000, 3000), (120, 80, 50)), "JPEG", quality=80)
    body = _post(service, [big], ["overall"]).json()
    url = service["url"] + body["photos"][0]["heatmap_url"]
    first, second = (requests.get(url, headers=_as(service, "appraiser"), timeout=30) for _ in range(2))
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(first.content)).size == (1024, 768)
    assert first.content == second.content


def test_uploads_are_rate_limited_per_key(service) -> None:
    answers = [_post(service, [b""], key="hasty").status_code for _ in range(41)]
    assert answers[:40] == [422] * 40 and answers[40] == 429
    limited = _post(service, [b""], key="hasty")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert _post(service, [b""]).status_code == 422  # other keys are not slowed down


def test_a_server_killed_during_a_burst_of_writes_leaves_a_consistent_database(
    service, tmp_path: Path
) -> None:
    import threading

    from sqlalchemy import create_engine, text

    port = free_port()
    with open(tmp_path / "victim.log", "w") as log:
        victim = subprocess.Popen(
            [sys.executable, "-m", "secondlook.cli", "serve", "--port", str(port)],
            env=service["env"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, victim, tmp_path / "victim.log")
        photos = item_photos(service["manifest"])
        files = [("photos", (f"p{i}.jpg", b, "image/jpeg")) for i, (_, b) in enumerate(photos)]
        data = [("views", v) for v, _ in photos]
        created: list[str] = []

        # expert keys may not upload: use a fresh appraiser key for the burst
        key = (
            service["cli"]("keys", "create", "--role", "appraiser", "--name", "burst")
            .stdout.strip()
            .rsplit(" ", 1)[-1]
        )

        def burst_as_appraiser() -> None:
            for _ in range(4):
                try:
                    r = requests.post(
                        f"{url}/v1/appraisals",
                        files=files,
                        data=data,
                        headers={"Authorization": f"Bearer {key}"},
                    )
                except requests.ConnectionError:
                    return
                if r.status_code == 201:
                    created.append(r.json()["id"])

        threads = [threading.Thread(target=burst_as_appraiser) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(0.8)
        victim.kill()  # SIGKILL: no cleanup, mid-write for some requests
        for thread in threads:
            thread.join(timeout=60)
    verified = service["cli"]("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    engine = create_engine(service["env"]["SECONDLOOK_DATABASE_URL"])
    with engine.connect() as connection:
        appraisals = set(connection.execute(text("SELECT id FROM appraisals")).scalars())
        logged = set(
            connection.execute(
                text("SELECT subject FROM audit_log WHERE action = 'appraisal.created'")
            ).scalars()
        )
        orphans = connection.execute(
            text(
                "SELECT count(*) FROM appraisals a "
                "WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.appraisal_id = a.id)"
            )
        ).scalar()
        digests = list(connection.execute(text("SELECT sha256 FROM photos")).scalars())
    engine.dispose()
    assert created, "the burst should have landed some appraisals before the kill"
    assert set(created) <= appraisals  # every answered 201 was committed
    assert appraisals == logged and orphans == 0  # each appraisal has its audit entry and its photos
    store = Path(service["env"]["SECONDLOOK_PHOTO_STORE"])
    assert all((store / d[:2] / d).is_file() for d in digests)


def test_history_filters_by_verdict_and_date_and_keeps_appraisers_apart(service) -> None:
    import datetime as dt

    url = service["url"]
    start = dt.datetime.now(dt.timezone.utc).isoformat()
    item = _referred(service)
    mine = requests.get(
        f"{url}/v1/appraisals", params={"since": start}, headers=_as(service, "appraiser"), timeout=30
    )
    assert mine.status_code == 200 and item in [a["id"] for a in mine.json()]
    unable = requests.get(
        f"{url}/v1/appraisals",
        params={"verdict": "UNABLE_TO_VERIFY"},
        headers=_as(service, "appraiser"),
        timeout=30,
    ).json()
    assert all(a["state"] == "UNABLE_TO_VERIFY" for a in unable) and item not in [a["id"] for a in unable]
    theirs = requests.get(f"{url}/v1/appraisals", headers=_as(service, "hasty"), timeout=30).json()
    assert item not in [a["id"] for a in theirs]  # another appraiser's items stay hidden
    future = requests.get(
        f"{url}/v1/appraisals",
        params={"until": "2000-01-01T00:00:00"},
        headers=_as(service, "expert"),
        timeout=30,
    )
    assert future.status_code == 200 and future.json() == []
    bad = requests.get(
        f"{url}/v1/appraisals", params={"verdict": "FAKE"}, headers=_as(service, "expert"), timeout=30
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    number = requests.get(  # the schema says date-time: a number is not read as Unix time
        f"{url}/v1/appraisals", params={"until": "4927300059252"}, headers=_as(service, "expert"), timeout=30
    )
    assert number.status_code == 422 and "ISO 8601" in number.json()["detail"]
    allowed = requests.delete(f"{url}/v1/appraisals/x/reviews", headers=_as(service, "expert"), timeout=30)
    assert allowed.status_code == 405 and allowed.headers["allow"] == "GET, HEAD, POST"


def test_the_server_keeps_its_openapi_contract(service, tmp_path: Path) -> None:
    """schemathesis as a third-party client would run it: every phase (examples, coverage,
    fuzzing, stateful) and its default checks (no server error; statuses, content types,
    headers and bodies as documented; valid input accepted, invalid rejected; 405 with Allow)
    against /openapi.json, with an admin key."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{service['url']}/openapi.json",
        "--header",
        f"Authorization: Bearer {service['keys']['admin']}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "15",
        "--generation-deterministic",
        "--request-timeout",
        "60",
        "--workers",
        "1",
    ]
    # In a scratch folder: schemathesis keeps a cache in its working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
