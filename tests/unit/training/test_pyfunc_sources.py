"""The logged pyfunc carries our packages' sources, not what lives beside them in data/."""

from pathlib import Path

from training.pyfunc import PYTHON_PACKAGES, copy_sources


def _checkout(root: Path, renders: Path) -> None:
    for package in PYTHON_PACKAGES:
        (root / package / "sub").mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / "sub" / "__init__.py").write_text("")
        (root / package / "sub" / "module.py").write_text("X = 1\n")
    (root / "configs" / "train").mkdir(parents=True)
    (root / "configs" / "taxonomy.yaml").write_text("version: 1\n")
    (root / "configs" / "train" / "a.yaml").write_text("name: a\n")
    # what a user's data/ holds after `make demo`: a rendered benchmark and a symlinked build
    (root / "data" / "synth" / "images").mkdir(parents=True)
    (root / "data" / "synth" / "images" / "photo.jpg").write_bytes(b"\xff" * 4096)
    (root / "data" / "synth" / "manifest.csv").write_text("item_id\n")
    renders.mkdir()
    (renders / "manifest.csv").write_text("item_id\n")
    (root / "data" / "synth_champion").symlink_to(renders, target_is_directory=True)


def test_only_python_sources_and_configs_are_copied(tmp_path: Path) -> None:
    root, into = tmp_path / "checkout", tmp_path / "staging"
    _checkout(root, tmp_path / "elsewhere")
    into.mkdir()

    copied = copy_sources(root, into)

    assert sorted(Path(p).name for p in copied) == sorted([*PYTHON_PACKAGES, "configs"])
    files = sorted(str(p.relative_to(into)) for p in into.rglob("*") if p.is_file())
    sources = ("__init__.py", "sub/__init__.py", "sub/module.py")
    expected = sorted(
        [f"{package}/{name}" for package in PYTHON_PACKAGES for name in sources]
        + ["configs/taxonomy.yaml", "configs/train/a.yaml"]
    )
    assert files == expected
