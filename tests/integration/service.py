"""A real `secondlook serve` for end-to-end tests: subprocess, free loopback port, one key per role;
the API calls and the browser tab the end-to-end tests (test_api_*.py, test_web.py) share."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from data.manifest import read_manifest, resolve_image_path

CHROMIUM = os.environ.get("SECONDLOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("SECONDLOOK_TEST_OUTPUT", "test-output")) / "screenshots"
VERDICT_TITLES = ("Authentic", "Counterfeit", "Referred to an expert", "Unable to verify")


def item_photos(manifest: Path, position: int = 0) -> list[tuple[str, bytes]]:
    """(view, bytes) of each photo of the manifest's item at `position` (0: the first, -1: the last)."""
    frame = read_manifest(manifest)
    item = frame[frame["item_id"] == frame["item_id"].iloc[position]]
    return [
        (v, resolve_image_path(manifest, p).read_bytes())
        for v, p in zip(item["view"], item["image_path"], strict=False)
    ]


def upload_files(photos: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The multipart `photos` parts of an upload of these (view, bytes) photos."""
    return [("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, (_, data) in enumerate(photos)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


KEYS = (
    ("appraiser", "appraiser"),
    ("expert", "expert"),
    ("expert2", "expert"),
    ("arbiter", "arbiter"),
    ("hasty", "appraiser"),
    ("admin", "admin"),
    ("monitor", "monitor"),
)


def wait_until_ready(url: str, server: subprocess.Popen, log: Path) -> None:
    """Poll /readyz for up to a minute; fail with the server's log if it exits first."""
    for _ in range(300):
        try:
            if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if server.poll() is not None:
            pytest.fail(log.read_text())
        time.sleep(0.2)
    pytest.fail(f"{url} was not ready within a minute")


@contextmanager
def running_service(root: Path, deployment: Path, manifest: Path, database_url: str) -> Iterator[dict]:
    """`secondlook serve` in a subprocess on a free loopback port, with one key per entry of KEYS."""
    env = {
        **os.environ,
        "SECONDLOOK_DATABASE_URL": database_url,
        "SECONDLOOK_PHOTO_STORE": str(root / "photos"),
        "SECONDLOOK_MODELS_DIR": str(deployment / "models"),
        "SECONDLOOK_POLICY_PATH": str(deployment / "verdict.yaml"),
        "SECONDLOOK_UPLOADS_PER_MINUTE": "40",
        "SECONDLOOK_MAX_REQUEST_BYTES": "2000000",
        # A deployment that shows appraisers the reviewers' scores and heatmaps (the default
        # withholds them: tests/integration/test_api_inprocess.py).
        "SECONDLOOK_APPRAISER_SEES_SCORES": "true",
        # Each service its own audit key and anchor (the PostgreSQL default would share var/).
        "SECONDLOOK_AUDIT_KEY_FILE": str(root / "audit.key"),
        "SECONDLOOK_AUDIT_ANCHOR": str(root / "audit-anchor.json"),
    }

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "secondlook.cli", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)

    keys = {}
    for who, role in KEYS:
        created = cli("keys", "create", "--role", role, "--name", f"test {who}")
        assert created.returncode == 0, created.stderr
        keys[who] = created.stdout.strip().rsplit(" ", 1)[-1]
    port = free_port()
    with open(root / "server.log", "w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "secondlook.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_ready(url, server, root / "server.log")
            yield {
                "url": url,
                "keys": keys,
                "cli": cli,
                "manifest": manifest,
                "log": root / "server.log",
                "env": env,
            }
        finally:
            server.terminate()
            server.wait(timeout=30)


def post_appraisal(service, photos, views=None, key="appraiser", **fields):
    """POST /v1/appraisals with these photo bytes (and views, form fields) as the key of `key`
    (None: no key)."""
    files = [("photos", (f"p{i}.jpg", data, "image/jpeg")) for i, data in enumerate(photos)]
    data = [("views", v) for v in views or []] + list(fields.items())
    headers = {"Authorization": f"Bearer {service['keys'][key]}"} if key else {}
    return requests.post(
        f"{service['url']}/v1/appraisals", files=files, data=data, headers=headers, timeout=60
    )


def auth(service, who: str) -> dict[str, str]:
    """The Authorization header of the service's key for `who` (an entry of KEYS)."""
    return {"Authorization": f"Bearer {service['keys'][who]}"}


def referred_appraisal(service) -> str:
    """A new appraisal that awaits expert review (the smoke reviewers are never sure)."""
    photos = item_photos(service["manifest"])
    body = post_appraisal(service, [b for _, b in photos], [v for v, _ in photos]).json()
    assert body["state"] == "REFER_TO_EXPERT" and body["status"] == "awaiting_review", body
    return body["id"]


def item_files(manifest: Path, tmp_path: Path) -> list[tuple[Path, str]]:
    """The first benchmark item's photos as files, with their views."""
    frame = read_manifest(manifest)
    item = frame[frame["item_id"] == frame["item_id"].iloc[0]]
    files = []
    for n, (view, image) in enumerate(zip(item["view"], item["image_path"], strict=True)):
        target = tmp_path / f"photo{n}{Path(image).suffix}"
        shutil.copyfile(resolve_image_path(manifest, image), target)
        files.append((target, view))
    return files


class Page:
    """A browser tab on the service that records console errors and uncaught exceptions."""

    def __init__(self, browser, service, width: int = 1280, height: int = 900) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.tab = self.context.new_page()
        self.tab.set_default_timeout(30_000)
        self.service = service
        self.console_errors: list[str] = []
        self.tab.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.tab.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))
        self.tab.goto(service["url"] + "/")

    def sign_in(self, who: str) -> None:
        self.tab.get_by_label("API key").fill(self.service["keys"][who])
        self.tab.get_by_role("button", name="Sign in").click()
        self.tab.locator("#who").wait_for()

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.tab.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()
