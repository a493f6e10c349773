"""Every command in the README is real: the CLI reference and inline `secondlook ...` spans
are checked against the CLI, and every `bash` block runs, in order, in a copy of the tiny
demo project.

A block may be annotated by an HTML comment on the line before it (invisible on the page):
  <!-- test: by FILE::TEST, .ci/run -->  run by that test (checked to exist), not here
  <!-- test: background URL... -->       a server: started, waited for, stopped at the end
  <!-- test: exit 0 1 -->                exit codes that are documented outcomes
Ports and the example PostgreSQL URL are replaced by free ones and a real test database.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import click
import pandas as pd
import pytest
import requests

from bench.scenarios.api import stop_servers
from secondlook.cli import cli
from tests.dataset_trees import abo_tree, fashion_tree, image, mvtec_tree
from tests.e2e.project import ROOT, installed_venv, project_env
from tests.integration.service import free_port

README = ROOT / "README.md"
EXAMPLE_DATABASE = "postgresql+psycopg://secondlook:secret@db.internal:5432/secondlook"
PORTS = ("8000", "8001", "8002", "5000")
COMMANDS = ("make ", "dvc ", ".venv/bin/dvc ", "mlflow ", "torchrun ", "curl ", "scripts/", "pip ")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    annotation: str  # what follows "test:" in the comment before the block, or ""
    line: int


def readme_blocks(text: str) -> list[Block]:
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        fence = re.match(r"^\s*```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, indent = i, len(lines[i]) - len(lines[i].lstrip())
        i += 1
        body = []
        while not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][indent:])
            i += 1
        before = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        note = re.match(r"^<!-- test: (.*) -->$", before)
        blocks.append(Block(fence.group(1), "\n".join(body) + "\n", note.group(1) if note else "", start + 1))
        i += 1
    return blocks


BLOCKS = readme_blocks(README.read_text())


def _command(words: list[str]) -> tuple[click.Command, list[str]]:
    """The CLI command a `secondlook ...` line names, and the words after its name."""
    command: click.Command = cli
    ctx = click.Context(cli)
    while words and isinstance(command, click.Group) and command.get_command(ctx, words[0]):
        command = command.get_command(ctx, words[0])
        words = words[1:]
    return command, words


def _options(command: click.Command) -> set[str]:
    names = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            names |= _options(command.get_command(ctx, name))
    return names


def _check_secondlook_line(line: str) -> None:
    command, rest = _command(line.split()[1:])
    if command is cli:  # `secondlook --help`, `secondlook COMMAND --help`
        root = {o for p in cli.params for o in p.opts} | {"--help", "-h"}
        assert all(w in root or w.isupper() for w in rest), f"no such command: {line}"
        return
    unknown = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(rest))) - _options(command)
    assert not unknown, f"{line}: not options of `{command.name}`: {sorted(unknown)}"


def test_the_cli_reference_lists_every_command_with_real_options():
    (reference,) = [b for b in BLOCKS if b.language == "text" and b.text.startswith("secondlook data synth")]
    entries: list[str] = []
    for line in reference.text.splitlines():
        if line.startswith("secondlook "):
            entries.append(line)
        elif line.strip():
            entries[-1] += " " + line.strip()
    for entry in entries:
        _check_secondlook_line(entry)
    listed = {" ".join(e.split()[1:3]) for e in entries} | {e.split()[1] for e in entries}

    def leaves(group: click.Group, prefix: str) -> list[str]:
        ctx = click.Context(group)
        found = []
        for name in group.list_commands(ctx):
            sub = group.get_command(ctx, name)
            path = f"{prefix}{name}"
            found += leaves(sub, path + " ") if isinstance(sub, click.Group) and path != "models" else [path]
        return found

    # `secondlook rescore MANIFEST` is `secondlook rescore run MANIFEST`
    missing = [
        path for path in leaves(cli, "") if path not in listed and path.removesuffix(" run") not in listed
    ]
    assert not missing, f"commands missing from the README's CLI reference: {missing}"


def test_inline_commands_are_real_or_run_by_a_block():
    prose = re.sub(r"```.*?```", "", README.read_text(), flags=re.DOTALL)
    runnable = "".join(b.text for b in BLOCKS if b.language == "bash")
    for span in re.findall(r"`([^`\n]+)`", prose):
        if span.startswith("secondlook "):
            _check_secondlook_line(span.replace("...", ""))
        elif span.startswith(COMMANDS):
            assert span in runnable, f"`{span}` is in the README but no bash block runs it"


def test_blocks_run_by_other_tests_name_real_tests():
    for block in BLOCKS:
        if block.annotation.startswith("by "):
            for target in block.annotation[3:].split(", "):
                if target == ".ci/run":
                    assert "make test" in (ROOT / ".ci/run").read_text()
                    continue
                path, name = target.split("::")
                assert f"def {name}(" in (ROOT / path).read_text(), (
                    f"README line {block.line}: no test {target}"
                )


def _raw_datasets(project: Path) -> None:
    """data/raw/ as the README's import examples expect it: miniature public datasets, and a
    shop's own table made from the benchmark's photos and labels."""
    raw = project / "data" / "raw"
    for category in ("tote", "wallet"):
        for n in range(2):
            image(raw / "bags" / category / f"{n}.jpg")
    mvtec_tree(raw / "mvtec_ad")
    abo_tree(raw / "abo")
    fashion_tree(raw / "fashion")
    benchmark = pd.read_csv(project / "data/synth/manifest.csv", dtype=str, keep_default_na=False)
    shop = raw / "shop"
    (shop / "photos").mkdir(parents=True)
    for path in benchmark["image_path"]:
        shutil.copy(project / "data/synth" / path, shop / "photos" / Path(path).name)
    pd.DataFrame(
        {
            "file": ["photos/" + Path(p).name for p in benchmark["image_path"]],
            "sku": benchmark["item_id"],
            "angle": benchmark["view"],
            "bag_type": benchmark["category"],
            "verdict": benchmark["authenticity"],
        }
    ).to_csv(shop / "items.csv", index=False)


def _wait_for(urls: list[str], server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # still starting, or slow to answer
                pass
            assert server.poll() is None, f"{url}: the server exited with {server.returncode}"
            assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
            time.sleep(0.5)


@pytest.fixture
def readme_project(demo_project, tmp_path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(demo_project[0], project, symlinks=True)
    installed_venv(project)
    _raw_datasets(project)
    return project


@pytest.mark.slow
@pytest.mark.xdist_group("demo_project")
def test_every_bash_block_runs(readme_project: Path, request: pytest.FixtureRequest):
    from tests.postgres import create_database

    replacements = {EXAMPLE_DATABASE: create_database(request.getfixturevalue("postgres_server"))}
    replacements |= {port: str(free_port()) for port in PORTS}
    servers: list[subprocess.Popen] = []
    try:
        for block in (b for b in BLOCKS if b.language == "bash"):
            if block.annotation.startswith("by "):
                continue  # test_blocks_run_by_other_tests_name_real_tests
            script = block.text
            for old, new in replacements.items():
                script = re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w])", new, script)
            if block.annotation.startswith("background"):
                server = subprocess.Popen(
                    ["bash", "-c", script],
                    cwd=readme_project,
                    env=project_env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                servers.append(server)
                _wait_for(
                    [
                        re.sub(rf"\b{p}\b", replacements[p], url)
                        for url in block.annotation.split()[1:]
                        for p in PORTS
                        if p in url
                    ],
                    server,
                )
                continue
            allowed = {0}
            if block.annotation.startswith("exit"):
                allowed = {int(code) for code in block.annotation.split()[1:]}
            result = subprocess.run(
                ["bash", "-eo", "pipefail", "-c", script],
                cwd=readme_project,
                env=project_env(),
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert result.returncode in allowed, (
                f"README line {block.line} exited {result.returncode}:\n{script}\n"
                f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
            )
    finally:
        stop_servers(servers)
