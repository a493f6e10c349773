"""What every scenario measures on: the benchmark manifest, each reviewer's bundle and checkpoint."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from secondlook.errors import MissingInput

REVIEWERS = ("reviewer_a", "reviewer_b")


@dataclass(frozen=True)
class BenchSettings:
    """Sizes of one run: `quick` is for tests (seconds, figures meaningless), full for the README."""

    quick: bool = False

    @property
    def photos(self) -> int:  # test photos for inference and accuracy
        return 16 if self.quick else 128

    @property
    def repeats(self) -> int:  # timed calls per variant and batch size
        return 3 if self.quick else 30

    @property
    def rescore_items(self) -> int:
        return 4 if self.quick else 200

    @property
    def api_seconds(self) -> float:  # load duration per client count
        return 1.5 if self.quick else 15.0

    @property
    def api_clients(self) -> tuple[int, ...]:
        return (1, 4) if self.quick else (1, 4, 16)

    @property
    def train_items(self) -> int | None:  # None: every item (the tests' tiny benchmark)
        return None if self.quick else 120

    @property
    def cold_starts(self) -> int:
        return 1 if self.quick else 3


@dataclass(frozen=True)
class BenchContext:
    manifest: Path
    bundles: dict[str, Path]
    checkpoints: dict[str, Path]
    settings: BenchSettings = field(default_factory=BenchSettings)

    @classmethod
    def locate(
        cls,
        manifest: Path,
        bundles: dict[str, str],
        checkpoints: dict[str, str],
        models_dir: Path | None,
        settings: BenchSettings,
    ) -> BenchContext:
        """Defaults: the benchmark and training runs of `make demo-train` and the champions' bundles
        (pair a bundle with its own checkpoint: `--bundle NAME=NAME/demo`)."""
        from serving.registry import resolve_bundle
        from serving.settings import load_settings

        models_dir = models_dir if models_dir is not None else load_settings().models_dir
        hint = "run `make demo-train` first, or give --manifest/--bundle/--checkpoint"
        if not manifest.is_file():
            raise MissingInput(f"no benchmark manifest at {manifest}: {hint}")
        resolved, weights = {}, {}
        for name in REVIEWERS:
            try:
                resolved[name] = resolve_bundle(bundles.get(name, f"{name}@champion"), models_dir)
            except (FileNotFoundError, KeyError, ValueError) as exc:
                raise MissingInput(f"no bundle for {name} ({exc}): {hint}") from None
            weights[name] = Path(checkpoints.get(name, f"runs/{name}/model.safetensors"))
            if not weights[name].is_file():
                raise MissingInput(f"no checkpoint for {name} at {weights[name]}: {hint}")
        return cls(manifest, resolved, weights, settings)

    def test_rows(self) -> pd.DataFrame:
        """The manifest's test split (every row if it has none): what the scenarios measure on."""
        from data.manifest import read_manifest

        frame = read_manifest(self.manifest)
        test = frame[frame["split"] == "test"]
        return test if not test.empty else frame

    def first_test_item(self) -> pd.DataFrame:
        """The rows (photos) of the test split's first item."""
        rows = self.test_rows()
        return rows[rows["item_id"] == rows["item_id"].iloc[0]]

    def test_photos(self, count: int) -> tuple[list[Path], list[str], np.ndarray]:
        """The first `count` photos of the test split: paths, views, and 1 where a cue shows."""
        from data.manifest import resolve_image_path, split_list

        frame = self.test_rows().head(count)
        paths = [resolve_image_path(self.manifest, p) for p in frame["image_path"]]
        cues = np.array([bool(split_list(v)) for v in frame["cues"]], dtype=int)
        return paths, [str(v) for v in frame["view"]], cues


def machine() -> dict[str, Any]:
    """The machine the figures come from (they are only comparable within one run)."""
    import onnxruntime

    from serving.bundle import usable_cores

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": usable_cores(), "onnxruntime": onnxruntime.__version__}
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["torch"] = None
    return info
