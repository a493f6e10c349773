"""The `secondlook` command as a user meets it: fast help, one-line errors, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pandas as pd
import pytest
from PIL import Image

from data.manifest import read_manifest, write_manifest
from secondlook.cli import SUBCOMMANDS

HEAVY_MODULES = ("torch", "onnxruntime", "pandas", "numpy", "timm", "mlflow", "fastapi", "PIL")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secondlook.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.mark.parametrize(
    "args", [["--help"], ["data", "synth", "--help"], *([name, "--help"] for name in sorted(SUBCOMMANDS))]
)
def test_help_answers_without_importing_heavy_modules(args: list[str]) -> None:
    probe = (
        "import sys, runpy; sys.argv = ['secondlook', *sys.argv[1:]]\n"
        "try:\n    runpy.run_module('secondlook.cli', run_name='__main__')\n"
        "except SystemExit as e:\n    code = e.code\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=60)
    assert "Usage:" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "HEAVY=", result.stdout


def test_synth_preview_validate_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = run(
        "data", "synth", "--out", str(out), "--items", "6", "--seed", "2", "--workers", "2", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert "24 photos of 6 items" in result.stdout
    assert "secondlook data preview" in result.stdout
    summary = json.loads((out / "benchmark.json").read_text())
    assert summary["items"] == 6 and summary["counterfeit_items"] == 3

    sheet = tmp_path / "sheet.png"
    result = run("data", "preview", str(out / "manifest.csv"), "--out", str(sheet), "--limit", "8")
    assert result.returncode == 0, result.stderr
    with Image.open(sheet) as image:
        assert image.width == 4 * 224 and image.height > 224

    result = run("data", "validate", str(out / "manifest.csv"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_synth_reads_a_config_file_and_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "synth.yaml"
    config.write_text("items: 2\nseed: 9\nformat: parquet\ndifficulty: hard\n")
    out = tmp_path / "bench"
    result = run("data", "synth", "--config", str(config), "--items", "3", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr
    frame = read_manifest(out / "manifest.parquet")
    assert frame["item_id"].nunique() == 3
    assert set(frame["difficulty"]) == {"hard"}


def test_synth_splits_give_evaluation_more_items_and_bad_shares_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = run("data", "synth", "--out", str(out), "--items", "12", "--splits", "0.2,0.4,0.4", "--quiet")
    assert result.returncode == 0, result.stderr
    per_split = read_manifest(out / "manifest.csv").drop_duplicates("item_id")["split"].value_counts()
    assert per_split["val"] + per_split["test"] > per_split.get("train", 0)
    shares = json.loads((out / "benchmark.json").read_text())["split_items"]
    assert shares == {split: int(n) for split, n in per_split.items()}
    line = f"{shares.get('train', 0)} train / {shares['val']} val / {shares['test']} test items"
    assert line in result.stdout

    config = tmp_path / "synth.yaml"
    config.write_text("items: 2\nsplits: [0.5, 0.25, 0.25]\n")
    from_file = run("data", "synth", "--config", str(config), "--out", str(tmp_path / "b2"), "--quiet")
    assert from_file.returncode == 0, from_file.stderr

    refused = run("data", "synth", "--out", str(tmp_path / "b3"), "--items", "2", "--splits", "0.5,0.6,0.1")
    assert refused.returncode == 2 and "sum to 1" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "b3").exists()


def test_validate_reports_bad_rows_and_exits_non_zero(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert run("data", "synth", "--out", str(out), "--items", "2", "--quiet").returncode == 0
    frame = read_manifest(out / "manifest.csv")
    frame.loc[1, "hardware_type"] = "brass_thing"
    frame.loc[2, "image_path"] = "images/missing.jpg"
    broken = tmp_path / "broken.csv"
    frame.assign(
        image_path=[str(out / p) if p != "images/missing.jpg" else p for p in frame.image_path]
    ).pipe(write_manifest, broken)
    result = run("data", "validate", str(broken))
    assert result.returncode == 1
    assert "row 2" in result.stdout and "brass_thing" in result.stdout
    assert "row 3" in result.stdout and "missing_file" in result.stdout


def test_import_imagefolder_then_validate(tmp_path: Path) -> None:
    root = tmp_path / "folder"
    for category in ("wallet", "clutch"):
        (root / category).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 64), (i * 90, 40, 40)).save(root / category / f"{i}.jpg")
    manifest = tmp_path / "out" / "manifest.parquet"
    result = run("data", "import", "imagefolder", str(root), "--out", str(manifest))
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(manifest)
    assert sorted(frame["category"]) == ["clutch", "clutch", "wallet", "wallet"]
    assert run("data", "validate", str(manifest)).returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "validate", "nope.csv"], "manifest not found"),
        (["data", "validate", "manifest.txt"], "must end in .csv or .parquet"),
        (["data", "import", "mvtec", "{tmp}", "--out", "{tmp}/m.csv"], "MVTec"),
        (["data", "import", "nosuch", "{tmp}", "--out", "{tmp}/m.csv"], "unknown source"),
        (["data", "import", "mvtec", "{tmp}", "--out", "{tmp}/m.csv", "--map", "a=b"], "does not apply"),
        (["data", "preview", "nope.csv", "--out", "x.png"], "manifest not found"),
    ],
)
def test_user_mistakes_give_one_line_and_no_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "manifest.txt").write_text("x")
    result = run(*[a.replace("{tmp}", str(tmp_path)) for a in args], cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert not (tmp_path / "m.csv").exists()


@click.command()
@click.argument("kind")
def _raiser(kind: str) -> None:
    """Raises a user's error or a bug, for the test below."""
    from secondlook.errors import InputError

    if kind == "mistake":
        raise InputError("items must be at least 1, got 0")
    raise ValueError("a bug deep inside")


def test_only_our_errors_become_one_line_and_bugs_keep_their_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from click.testing import CliRunner

    from secondlook.cli import cli

    monkeypatch.setitem(SUBCOMMANDS, "raiser", (f"{__name__}:_raiser", "test only"))
    mistake = CliRunner().invoke(cli, ["raiser", "mistake"])
    assert mistake.exit_code == 1 and mistake.output == "Error: items must be at least 1, got 0\n"
    bug = CliRunner().invoke(cli, ["raiser", "bug"])
    assert bug.exit_code == 1 and isinstance(bug.exception, ValueError)  # not turned into a message
    assert "Error:" not in bug.output
