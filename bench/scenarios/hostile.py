"""The API under a mixed legitimate load while hostile clients push oversized bodies without a key.

8 legitimate clients for 60 s (quick: 4 clients, 4 s), each on its own key, mixing:
uploads of benchmark items, uploads of large photos (12 MP JPEGs made from a benchmark photo),
heatmaps of their own items, history pages, and expert reviews from the review queue. Beside
them 4 hostile clients send endless chunked bodies to POST /v1/appraisals with no key.

It counts, per kind of request, the answers, the server errors (5xx) and the requests left
unanswered (connection errors, timeouts), and reads the server's peak resident memory (VmHWM,
Linux). Goals: no server error, no legitimate request unanswered, peak RSS under 1.5 GiB.
"""

from __future__ import annotations

import io
import json
import os
import random
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from PIL import Image

from bench.context import BenchContext
from bench.result import Goal, ScenarioResult
from bench.scenarios.api import _free_port, _item_photos, create_key, start_server, stop_servers

RSS_LIMIT_GIB = 1.5
HOSTILE_CLIENTS = 4
# Each legitimate client's mix, by weight.
MIX = {"upload": 4, "large_upload": 1, "heatmap": 3, "history": 3, "review": 2}
CHUNK = b"x" * 65536
# How a request ended: answered (by status class), unanswered (a legitimate client's connection
# error or timeout), or closed (a hostile body cut off by the server without a status line).
OUTCOMES = ("2xx", "3xx", "4xx", "5xx", "unanswered", "closed")
WHY_REFUSED = {409: "another client's review moved the item on between its queue and this review"}


def _large_photo(data: bytes, size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A 12 MP JPEG from a benchmark photo: what a phone sends, not what the benchmark holds."""
    image = Image.open(io.BytesIO(data)).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _peak_rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class Tally:
    """Per kind of request: answers by status class, server errors, unanswered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[str, Counter] = {}
        self.refusals: Counter = Counter()  # (kind, status) of legitimate requests answered 4xx

    def add(self, kind: str, outcome: str, status: int | None = None) -> None:
        with self.lock:
            self.counts.setdefault(kind, Counter())[outcome] += 1
            if outcome == "4xx" and kind != "hostile" and status is not None:
                self.refusals[kind, status] += 1


def _outcome(status: int) -> str:
    return "5xx" if status >= 500 else f"{status // 100}xx"


class LegitClient:
    """One appraiser (uploads, heatmaps, history) who is also an expert on a second key (reviews)."""

    def __init__(self, url: str, keys: dict[str, str], item: list[tuple[str, bytes]], large: bytes) -> None:
        self.url, self.keys, self.item, self.large = url, keys, item, large
        self.session = requests.Session()
        self.mine: list[str] = []
        self.random = random.Random(keys["appraiser"])

    def _auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}

    def send(self, kind: str) -> int:
        if kind in ("upload", "large_upload"):
            photos = self.item if kind == "upload" else [(v, self.large) for v, _ in self.item]
            files = [("photos", (f"{v}.jpg", data, "image/jpeg")) for v, data in photos]
            data = [("views", v) for v, _ in photos]
            headers = self._auth("appraiser")
            response = self.session.post(
                f"{self.url}/v1/appraisals", files=files, data=data, headers=headers, timeout=120
            )
            if response.status_code == 201:
                self.mine.append(response.json()["id"])
            return response.status_code
        if kind == "heatmap" and self.mine:
            item = self.random.choice(self.mine)
            path = f"/v1/appraisals/{item}/photos/1/heatmap"
            return self.session.get(self.url + path, headers=self._auth("appraiser"), timeout=120).status_code
        if kind == "review":
            queue = self.session.get(f"{self.url}/v1/review-queue", headers=self._auth("expert"), timeout=120)
            if queue.status_code != 200 or not queue.json():
                return queue.status_code
            item = queue.json()[0]
            decision = self.random.choice(item["decisions"])
            return self.session.post(
                f"{self.url}/v1/appraisals/{item['id']}/reviews",
                json={"decision": decision},
                headers=self._auth("expert"),
                timeout=120,
            ).status_code
        return self.session.get(
            f"{self.url}/v1/appraisals", params={"limit": 50}, headers=self._auth("appraiser"), timeout=120
        ).status_code


def _hostile(host: str, port: int, stop: threading.Event, tally: Tally) -> None:
    """Endless chunked bodies with no key, one connection after another, until `stop`."""
    head = (
        b"POST /v1/appraisals HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )
    while not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=10) as sock:
                sock.sendall(head)
                sent = 0
                try:
                    while not stop.is_set() and sent < 64 * 1024 * 1024:
                        sock.sendall(b"10000\r\n" + CHUNK + b"\r\n")
                        sent += len(CHUNK)
                except OSError:
                    pass  # the server answered and closed: what it should do
                answer = sock.recv(64)
            status = int(answer.split(b" ")[1]) if answer.startswith(b"HTTP/1.1 ") else None
            tally.add("hostile", "closed" if status is None else _outcome(status))
        except OSError:
            tally.add("hostile", "closed")


def _keys(env: dict[str, str], clients: int) -> list[dict[str, str]]:
    """Per client an appraiser key and an expert key, of two different persons."""
    return [
        {role: create_key(env, role, f"load {role} {n}", f"{role}-{n}") for role in ("appraiser", "expert")}
        for n in range(clients)
    ]


def run(context: BenchContext) -> ScenarioResult:
    quick = context.settings.quick
    clients, seconds = (4, 4.0) if quick else (8, 60.0)
    item = _item_photos(context)
    large = _large_photo(item[0][1])
    tally, stop = Tally(), threading.Event()
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            **os.environ,
            "SECONDLOOK_DATABASE_URL": f"sqlite:///{Path(scratch) / 'load.db'}",
            "SECONDLOOK_PHOTO_STORE": str(Path(scratch) / "photos"),
            "SECONDLOOK_REVIEWERS": json.dumps({n: str(p.resolve()) for n, p in context.bundles.items()}),
            "SECONDLOOK_POLICY_PATH": "configs/verdict.yaml",
            "SECONDLOOK_UPLOADS_PER_MINUTE": str(10**6),
        }
        keys = _keys(env, clients)
        port = _free_port()
        server = start_server(env, port)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + seconds

            def legit(n: int) -> None:
                client = LegitClient(url, keys[n], item, large)
                kinds, weights = list(MIX), list(MIX.values())
                while time.monotonic() < deadline:
                    kind = client.random.choices(kinds, weights)[0]
                    try:
                        status = client.send(kind)
                        tally.add(kind, _outcome(status), status)
                    except requests.RequestException:
                        tally.add(kind, "unanswered")

            threads = [threading.Thread(target=legit, args=(n,)) for n in range(clients)]
            threads += [
                threading.Thread(target=_hostile, args=("127.0.0.1", port, stop, tally))
                for _ in range(HOSTILE_CLIENTS)
            ]
            for thread in threads:
                thread.start()
            for thread in threads[:clients]:
                thread.join()
            stop.set()
            for thread in threads[clients:]:
                thread.join(timeout=30)
            peak = _peak_rss_bytes(server.pid)
            alive = server.poll() is None
        finally:
            stop.set()
            stop_servers([server])
    return _result(tally, peak, alive, clients, seconds)


def _result(tally: Tally, peak: int | None, alive: bool, clients: int, seconds: float) -> ScenarioResult:
    rows: list[dict[str, Any]] = [
        {"request": kind, "sent": sum(counts.values()), **{column: counts[column] for column in OUTCOMES}}
        for kind, counts in sorted(tally.counts.items())
    ]
    legit = {k: c for k, c in tally.counts.items() if k != "hostile"}
    server_errors = sum(c["5xx"] for c in tally.counts.values())
    unanswered = sum(c["unanswered"] for c in legit.values())
    peak_gib = None if peak is None else peak / 2**30
    refusals = [
        f"{kind} {status} x{n}" + (f" ({WHY_REFUSED[status]})" if status in WHY_REFUSED else "")
        for (kind, status), n in sorted(tally.refusals.items())
    ]
    goals = [
        Goal.at_most("server errors", float(server_errors), 0),
        Goal.at_most("legitimate requests unanswered", float(unanswered), 0),
        Goal.at_most("server peak RSS", peak_gib, RSS_LIMIT_GIB, " GiB"),
    ]
    notes = [
        f"{clients} legitimate clients for {seconds:g} s (mix {MIX}), {HOSTILE_CLIENTS} hostile clients "
        "sending endless chunked bodies without a key; the server was "
        + ("still up" if alive else "DOWN")
        + " at the end",
        "legitimate requests answered 4xx: " + (", ".join(refusals) or "none"),
    ]
    return ScenarioResult("hostile", rows, goals, notes)
