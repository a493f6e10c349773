"""The appraisal API under 1, 4 and 16 concurrent clients, each uploading 3-photo items for a
fixed time, beside `mlflow models serve` running the MLflow pyfunc of the same two reviewers
(one server per reviewer: a client sends each item to both), driven by the same client code.

Both run on this machine with their default single worker; the clients are threads of this
process, the same for both. Ours does more per item (quality gate, verdict, store, audit)."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench.context import BenchContext
from bench.result import Goal, ScenarioResult
from secondlook.resources import configs_dir

ITEM_VIEWS = ("overall", "hardware", "stamp")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def create_key(env: dict[str, str], role: str, name: str, person: str | None = None) -> str:
    """A new API key's secret, made with `secondlook keys create` in `env`'s deployment."""
    command = [sys.executable, "-m", "secondlook.cli", "keys", "create", "--role", role, "--name", name]
    if person is not None:
        command += ["--person", person]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.split()[-1]


def start_server(env: dict[str, str], port: int) -> subprocess.Popen:
    """`secondlook serve` on 127.0.0.1:`port` in its own process group, once it is ready."""
    server = subprocess.Popen(
        [sys.executable, "-m", "secondlook.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", server)
    except BaseException:
        stop_servers([server])  # never leave a half-started server behind
        raise
    return server


def _item_photos(context: BenchContext) -> list[tuple[str, bytes]]:
    from data.manifest import resolve_image_path

    first = context.first_test_item().set_index("view")
    return [
        (v, resolve_image_path(context.manifest, first.loc[v, "image_path"]).read_bytes()) for v in ITEM_VIEWS
    ]


def load(send: Callable[[requests.Session], bool], clients: int, seconds: float) -> dict[str, float]:
    """`clients` threads calling `send` back to back for `seconds`: items/s, p50/p99, errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                ok = send(session)
            except requests.RequestException:
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies) or [float("nan")]

    def pct(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {
        "items_per_s": len(latencies) / wall,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "errors": errors[0],
    }


def _ours(
    context: BenchContext, photos: list[tuple[str, bytes]], scratch: Path
) -> tuple[subprocess.Popen, Callable[[requests.Session], bool]]:
    port = _free_port()
    env = {
        **os.environ,
        "SECONDLOOK_DATABASE_URL": f"sqlite:///{scratch / 'bench.db'}",
        "SECONDLOOK_PHOTO_STORE": str(scratch / "photos"),
        "SECONDLOOK_REVIEWERS": json.dumps({n: str(p.resolve()) for n, p in context.bundles.items()}),
        "SECONDLOOK_POLICY_PATH": "configs/verdict.yaml",
        "SECONDLOOK_UPLOADS_PER_MINUTE": str(10**9),  # the load is the point, not the rate limit
    }
    key = create_key(env, "appraiser", "bench")
    server = start_server(env, port)
    url = f"http://127.0.0.1:{port}/v1/appraisals"

    def send(session: requests.Session) -> bool:
        files = [("photos", (f"{view}.jpg", data, "image/jpeg")) for view, data in photos]
        data = [("views", view) for view, _ in photos]
        response = session.post(
            url, files=files, data=data, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )
        return response.status_code == 201 or response.status_code == 200

    return server, send


def _mlflow(
    context: BenchContext, photos: list[tuple[str, bytes]], tracking_uri: str
) -> tuple[list[subprocess.Popen], Callable[[requests.Session], bool]] | None:
    from serving.bundle import Bundle

    run_ids = {n: Bundle(p).metadata.mlflow_run_id for n, p in context.bundles.items()}
    if not all(run_ids.values()):
        return None
    # mlflow starts `uvicorn` by name: this environment's bin/ must be on PATH
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    # runs logged before the pyfunc carried configs/ find taxonomy.yaml through SECONDLOOK_CONFIGS
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking_uri,
        "PATH": path,
        "SECONDLOOK_CONFIGS": str(configs_dir()),
    }
    servers, urls = [], []
    for run_id in run_ids.values():
        port = _free_port()
        servers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "models",
                    "serve",
                    "-m",
                    f"runs:/{run_id}/model",
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for server, url in zip(servers, urls, strict=True):
            _wait_ready(f"{url}/ping", server)
    except RuntimeError:
        stop_servers(servers)  # they run in their own sessions: nothing else would stop them
        raise
    body = json.dumps(
        {
            "dataframe_split": {
                "columns": ["image"],
                "data": [[base64.b64encode(d).decode()] for _, d in photos],
            }
        }
    )

    def send(session: requests.Session) -> bool:
        return all(
            session.post(
                f"{url}/invocations", data=body, headers={"Content-Type": "application/json"}, timeout=120
            ).ok
            for url in urls
        )

    return servers, send


def stop_servers(servers: list[subprocess.Popen]) -> None:
    """SIGTERM each server's process group (started with start_new_session), SIGKILL after 30 s."""
    import signal

    for server in servers:
        try:
            os.killpg(server.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
    for server in servers:
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def run(context: BenchContext, tracking_uri: str = "sqlite:///mlruns/mlflow.db") -> ScenarioResult:
    settings = context.settings
    rows, goals, notes = [], [], []
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        servers: list[subprocess.Popen] = []
        try:
            photos = _item_photos(context)
            server, ours = _ours(context, photos, Path(scratch))
            servers.append(server)
            targets = {"secondlook serve": ours}
            try:
                started = _mlflow(context, photos, tracking_uri)
                if started is None:
                    notes.append("mlflow models serve: the bundles name no MLflow run, not measured")
            except RuntimeError as exc:  # ours is still measured; the note says why theirs is not
                started = None
                notes.append(f"mlflow models serve: not measured ({exc})")
            if started is not None:
                servers += started[0]
                targets["mlflow models serve (pyfunc, 2 servers)"] = started[1]
            for clients in settings.api_clients:
                for name, send in targets.items():
                    send(requests.Session())  # warm-up
                    results[name, clients] = load(send, clients, settings.api_seconds)
                    rows.append({"server": name, "clients": clients, **results[name, clients]})
        finally:
            stop_servers(servers)
    mlflow_name = "mlflow models serve (pyfunc, 2 servers)"
    for clients in settings.api_clients:
        if (mlflow_name, clients) in results:
            mine, theirs = results["secondlook serve", clients], results[mlflow_name, clients]
            goals.append(
                Goal.at_least(
                    f"throughput vs mlflow, {clients} clients",
                    mine["items_per_s"] / theirs["items_per_s"],
                    3.0,
                )
            )
            goals.append(
                Goal.at_most(f"p99 vs mlflow, {clients} clients", mine["p99_ms"] / theirs["p99_ms"], 1.0, "x")
            )
    notes.append(
        f"{settings.api_seconds:g} s per client count; items of {len(ITEM_VIEWS)} photos "
        f"({', '.join(ITEM_VIEWS)})"
    )
    return ScenarioResult("api", rows, goals, notes)
