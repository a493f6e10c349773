"""The appraisal API end to end, what it refuses and what it survives: keys and roles, malformed
photos and forms, body, form and upload-rate limits, metrics, a server killed during a burst of
writes, and the OpenAPI contract (schemathesis). A real uvicorn on 127.0.0.1, real bundles, a real
database.

Every test runs twice: against a SQLite file and against a real PostgreSQL server (`service`,
conftest.py). What appraisers and experts do: test_api_appraisals.py."""

from __future__ import annotations

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.integration.service import (
    auth,
    free_port,
    item_photos,
    post_appraisal,
    referred_appraisal,
    wait_until_ready,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("service", ["sqlite", "postgresql"], indirect=True, scope="module"),
]


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
    response = post_appraisal(service, [payload])
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and code in problem["type"] and "photo 1" in problem["detail"]


def test_a_16_bit_png_is_decoded_not_refused(service) -> None:
    response = post_appraisal(service, [_png16()], ["stamp"])
    assert response.status_code == 201, response.text


def test_keys_and_roles_are_enforced(service) -> None:
    photos = [item_photos(service["manifest"])[0][1]]
    assert post_appraisal(service, photos, key=None).status_code == 401
    forbidden = post_appraisal(service, photos, key="expert")
    assert forbidden.status_code == 403 and forbidden.json()["type"].endswith("forbidden")
    wrong = requests.get(f"{service['url']}/v1/appraisals/x", headers={"X-API-Key": "sl_nope"}, timeout=10)
    assert wrong.status_code == 401
    assert requests.get(f"{service['url']}/healthz", timeout=10).status_code == 200


def test_bad_form_fields_are_named(service) -> None:
    photos = [item_photos(service["manifest"])[0][1]]
    unknown_view = post_appraisal(service, photos, ["side"])
    assert unknown_view.status_code == 422 and "unknown view side" in unknown_view.json()["detail"]
    negative = post_appraisal(service, photos, declared_value="-5")
    assert negative.status_code == 422 and "declared_value" in negative.json()["detail"]
    endless = post_appraisal(service, photos, declared_value="inf")
    assert endless.status_code == 422 and "declared_value" in endless.json()["detail"]
    too_many = post_appraisal(service, photos * 13)  # the form parser stops at the 13th file
    assert (
        too_many.status_code == 400 and "maximum number of files is 12" in too_many.json()["detail"].lower()
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


def test_metrics_request_ids_and_the_body_limit(service) -> None:
    url = service["url"]
    response = requests.get(f"{url}/healthz", headers={"X-Request-Id": "abc123"}, timeout=10)
    assert response.headers["x-request-id"] == "abc123"
    assert len(requests.get(f"{url}/healthz", timeout=10).headers["x-request-id"]) == 32
    referred_appraisal(service)
    assert requests.get(f"{url}/metrics", timeout=10).status_code == 401  # verdict counts need a key
    assert requests.get(f"{url}/metrics", headers=auth(service, "appraiser"), timeout=10).status_code == 403
    metrics = requests.get(f"{url}/metrics", headers=auth(service, "monitor"), timeout=10).text
    assert 'secondlook_verdicts_total{state="REFER_TO_EXPERT"}' in metrics
    assert "secondlook_request_seconds_bucket" in metrics and "secondlook_inference_seconds_count" in metrics
    huge = post_appraisal(service, [b"\xff\xd8" + b"x" * 3_000_000])  # over the 2 MB limit of this server
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
    many_fields = post_appraisal(service, [photos[0][1]], views=["overall"] * 200)
    assert many_fields.status_code == 400, many_fields.text
    assert "fields" in many_fields.json()["detail"].lower()
    many_files = post_appraisal(service, [photos[0][1]] * 40)
    assert many_files.status_code == 400 and "files" in many_files.json()["detail"].lower(), many_files.text


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
    response = post_appraisal(service, [_png_bomb()])
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("photo-too-many-pixels")


def test_uploads_are_rate_limited_per_key(service) -> None:
    answers = [post_appraisal(service, [b""], key="hasty").status_code for _ in range(41)]
    assert answers[:40] == [422] * 40 and answers[40] == 429
    limited = post_appraisal(service, [b""], key="hasty")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert post_appraisal(service, [b""]).status_code == 422  # other keys are not slowed down


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
