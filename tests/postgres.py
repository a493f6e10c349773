"""A throwaway PostgreSQL server for the test session, started with the machine's `pg_ctl`.

Tests run against SQLite always and against PostgreSQL when its server binaries are present
(`.ci/run` installs Debian's postgresql, so CI covers both). With SECONDLOOK_REQUIRE_POSTGRES=1
a missing server fails the tests instead of skipping them, so CI cannot pass silently without it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REQUIRED = os.environ.get("SECONDLOOK_REQUIRE_POSTGRES") == "1"


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/N/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the `postgres` system user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def running_server() -> Iterator[str]:
    """Start a private cluster on a free loopback port; yield its base URL; stop and delete it."""
    binaries = server_binaries()
    if binaries is None:
        message = "PostgreSQL server binaries (pg_ctl, initdb) not found; apt-get install postgresql"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="secondlook-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, port = root / "data", _free_port()

    def run(program: str, *args: str) -> subprocess.CompletedProcess:
        command = _as_server_user([str(binaries / program), *args])
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    try:
        init = run("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        assert init.returncode == 0, init.stderr
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        started = run("pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        assert started.returncode == 0, started.stderr + (root / "log").read_text(errors="replace")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        if data.exists():
            run("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def create_database(base_url: str) -> str:
    """A fresh, empty database on the session's server; returns its SQLAlchemy URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"
