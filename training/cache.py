"""Frozen ImageNet features, computed once per photo and kept on disk beside the run.

With `model.frozen_levels > 0` the first levels of the backbone keep their ImageNet weights
and batch-norm statistics, so what they make of a photo never changes during training. Each
photo is decoded and run through them once; every epoch then trains the rest of the network
on the cached maps (float16), which is what lets fine-tuning fit a 2-core budget. The photos
are not augmented: a cached photo is the same photo every epoch.

The maps are written as memory-mapped `.npy` files under `out_dir/features/<role>/`, so a
cache larger than memory streams from disk (the page cache keeps what fits), and a resumed
run, in this process or the next session's, reuses them instead of computing them again. A
cache is reused only when its fingerprint (the photos and their labels, the backbone, its
frozen levels, the preprocessing and the precision) matches; it becomes visible only once
complete (written in a temporary folder, then renamed), so an interrupted caching pass is
simply done again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Sampler

from training.config import TrainConfig
from training.data import ItemBatchSampler, PhotoDataset
from training.model import Reviewer
from training.precision import autocast_dtype
from training.predict import FROZEN_PREFIX
from training.progress import Milestones

CACHE_FORMAT = 1
FINGERPRINT_FILE = "fingerprint.json"


@dataclass
class CachedPhotos:
    """Per photo (row of the dataset): the frozen features of each level and the targets,
    as arrays in memory or memory-mapped from disk (`FROZEN_PREFIX`N for level N)."""

    arrays: dict[str, np.ndarray]
    image_size: tuple[int, int]
    seconds: float
    reused: bool = False

    def __len__(self) -> int:
        return len(self.arrays["row"])

    @property
    def levels(self) -> list[np.ndarray]:
        return [v for k, v in sorted(self.arrays.items()) if k.startswith(FROZEN_PREFIX)]

    @property
    def nbytes(self) -> int:
        return sum(int(v.nbytes) for v in self.arrays.values())

    def batch(self, rows: list[int]) -> dict[str, torch.Tensor]:
        index = np.asarray(rows)
        out = {k: torch.from_numpy(np.ascontiguousarray(v[index])) for k, v in self.arrays.items()}
        out["image_size"] = torch.tensor([self.image_size] * len(rows))
        return out


def fingerprint(config: TrainConfig, dataset: PhotoDataset, device: torch.device) -> dict[str, object]:
    """What the cached maps depend on: equal fingerprints, equal maps."""
    rows = hashlib.sha256(pd.util.hash_pandas_object(dataset.frame, index=True).to_numpy().tobytes())
    model = config.model
    return {
        "format": CACHE_FORMAT,
        "manifest": str(dataset.manifest_path.resolve()),
        "rows_sha256": rows.hexdigest(),
        "backbone": model.backbone,
        "frozen_levels": model.frozen_levels,
        # random frozen levels (pretrained: false) depend on the seed that drew them
        "weights": str(model.pretrained_path or "imagenet") if model.pretrained else f"seed {config.seed}",
        "preprocess": dataset.spec.to_dict(),
        "dtype": str(autocast_dtype(device, config.train.amp)),
    }


def open_cache(folder: Path, expected: dict[str, object], image_size: tuple[int, int]) -> CachedPhotos | None:
    """The complete cache in `folder` when its fingerprint is `expected`, else None."""
    try:
        found = json.loads((folder / FINGERPRINT_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if found.get("fingerprint") != expected:
        return None
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in found["arrays"]}
    return CachedPhotos(arrays, image_size, float(found["seconds"]), reused=True)


@torch.no_grad()
def cache_frozen_features(
    model: Reviewer,
    dataset: PhotoDataset,
    device: torch.device,
    folder: Path,
    expected: dict[str, object],
    batch_size: int = 32,
    workers: int = 0,
    on_batch: Callable[[int, int], None] | None = None,
    amp: bool = False,
) -> CachedPhotos:
    """Decode every photo of `dataset` once, run it through the model's frozen levels and write
    the maps (float16) and the targets to `folder`; with `amp`, in the device's lower precision
    (`training.precision`: on a CPU with native bfloat16, about 3 times as fast)."""
    started = time.perf_counter()
    model.eval()
    dtype = autocast_dtype(device, amp)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        arrays: dict[str, np.ndarray] = {}
        done = 0
        for batch in loader:
            images = batch.pop("image").to(device).contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                maps = model.frozen_features(images)
            values = {f"{FROZEN_PREFIX}{level}": m.to("cpu", torch.float16) for level, m in enumerate(maps)}
            values.update(batch)
            values["mask"] = batch["mask"].to(torch.uint8)
            for name, value in values.items():
                if name not in arrays:
                    arrays[name] = np.lib.format.open_memmap(
                        partial / f"{name}.npy",
                        mode="w+",
                        dtype=value.numpy().dtype,
                        shape=(len(dataset), *value.shape[1:]),
                    )
                arrays[name][done : done + len(images)] = value.numpy()
            done += len(images)
            if on_batch is not None:
                on_batch(done, len(dataset))
        for array in arrays.values():
            array.flush()  # type: ignore[attr-defined]
        seconds = time.perf_counter() - started
        record = {"fingerprint": expected, "arrays": sorted(arrays), "photos": done, "seconds": seconds}
        (partial / FINGERPRINT_FILE).write_text(json.dumps(record, indent=1) + "\n")
        del arrays
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):  # another process (a DDP rank) published it first
            partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    size = dataset.spec.size
    photos = open_cache(folder, expected, (size, size))
    if photos is None:
        raise RuntimeError(f"{folder}: the feature cache just written does not read back")
    photos.reused, photos.seconds = False, seconds
    return photos


class CachedLoader:
    """Batches of cached photos in the order a sampler gives (a DataLoader without workers:
    slicing arrays, in memory or mapped, needs none)."""

    def __init__(self, photos: CachedPhotos, sampler: Sampler[list[int]]) -> None:
        self.photos = photos
        self.sampler = sampler

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for rows in self.sampler:
            yield self.photos.batch(list(rows))

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


def describe(photos: CachedPhotos, folder: Path) -> str:
    shapes = ", ".join("x".join(map(str, f.shape[1:])) for f in photos.levels)
    how = (
        f"reused from {folder}"
        if photos.reused
        else f"in {photos.seconds:.0f} s ({len(photos) / max(photos.seconds, 1e-9):.0f}/s), in {folder}"
    )
    return f"{len(photos)} photos {how}: {photos.nbytes / 2**20:.0f} MiB ({shapes} per photo)"


def photo_batches(
    config: TrainConfig,
    model: Reviewer,
    dataset: PhotoDataset,
    sampler: ItemBatchSampler,
    device: torch.device,
    report: Callable[[str], None],
    role: str,
) -> Iterable[dict[str, torch.Tensor]]:
    """Batches of whole items: cached frozen features when the config caches them, else photos
    decoded (and augmented) every epoch by DataLoader workers."""
    if config.caches_features:
        folder = Path(config.out_dir) / "features" / role
        expected = fingerprint(config, dataset, device)
        size = dataset.spec.size
        photos = open_cache(folder, expected, (size, size))
        if photos is None:
            milestones = Milestones(
                f"{config.name}: caching the {role} photos", len(dataset), "photos", report
            )
            photos = cache_frozen_features(
                model,
                dataset,
                device,
                folder,
                expected,
                workers=config.data.workers,
                on_batch=lambda done, total: milestones.update(done),
                amp=config.train.amp,
            )
        report(
            f"{config.name}: frozen ImageNet features of the {role} photos cached: "
            + describe(photos, folder)
        )
        return CachedLoader(photos, sampler)
    workers = config.data.workers
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0)
