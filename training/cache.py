"""Frozen ImageNet features, computed once per photo and kept in memory.

With `model.frozen_levels > 0` the first levels of the backbone keep their ImageNet weights
and batch-norm statistics, so what they make of a photo never changes during training. Each
photo is decoded and run through them once; every epoch then trains the rest of the network
on the cached maps (float16), which is what lets fine-tuning fit the demo's 2-core budget.
The photos are not augmented: a cached photo is the same photo every epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Sampler

from training.config import TrainConfig
from training.data import ItemBatchSampler, PhotoDataset
from training.model import Reviewer
from training.precision import autocast_dtype
from training.predict import FROZEN_PREFIX


@dataclass
class CachedPhotos:
    """Per photo (row of the dataset): the frozen features of each level and the targets."""

    frozen: list[torch.Tensor]  # one (N, C, H, W) float16 tensor per frozen output level
    targets: dict[str, torch.Tensor]  # the dataset's per-row tensors, stacked (N, ...)
    image_size: tuple[int, int]
    seconds: float

    def __len__(self) -> int:
        return len(self.targets["row"])

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.frozen, *self.targets.values()))

    def batch(self, rows: list[int]) -> dict[str, torch.Tensor]:
        index = torch.as_tensor(rows)
        out = {k: v[index] for k, v in self.targets.items()}
        out.update({f"{FROZEN_PREFIX}{i}": f[index] for i, f in enumerate(self.frozen)})
        out["image_size"] = torch.tensor([self.image_size] * len(rows))
        return out


@torch.no_grad()
def cache_frozen_features(
    model: Reviewer,
    dataset: PhotoDataset,
    device: torch.device,
    batch_size: int = 32,
    workers: int = 0,
    on_batch: Callable[[int, int], None] | None = None,
    amp: bool = False,
) -> CachedPhotos:
    """Decode every photo of `dataset` once and run it through the model's frozen levels;
    with `amp`, in the device's lower precision (`training.precision`: on a CPU with native
    bfloat16, about 3 times as fast; the cache keeps float16 either way)."""
    started = time.perf_counter()
    model.eval()
    dtype = autocast_dtype(device, amp)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    frozen: list[list[torch.Tensor]] = []
    targets: dict[str, list[torch.Tensor]] = {}
    done = 0
    for batch in loader:
        images = batch.pop("image").to(device).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            maps = model.frozen_features(images)
        for level, value in enumerate(maps):
            if len(frozen) <= level:
                frozen.append([])
            frozen[level].append(value.to("cpu", torch.float16))
        batch["mask"] = batch["mask"].to(torch.uint8)
        for key, value in batch.items():
            targets.setdefault(key, []).append(value)
        done += len(images)
        if on_batch is not None:
            on_batch(done, len(dataset))
    size = dataset.spec.size
    return CachedPhotos(
        [torch.cat(level) for level in frozen],
        {k: torch.cat(v) for k, v in targets.items()},
        (size, size),
        time.perf_counter() - started,
    )


class CachedLoader:
    """Batches of cached photos in the order a sampler gives (a DataLoader without workers:
    indexing tensors in memory needs none)."""

    def __init__(self, photos: CachedPhotos, sampler: Sampler[list[int]]) -> None:
        self.photos = photos
        self.sampler = sampler

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for rows in self.sampler:
            yield self.photos.batch(list(rows))

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]


def describe(photos: CachedPhotos) -> str:
    shapes = ", ".join("x".join(map(str, f.shape[1:])) for f in photos.frozen)
    return (
        f"{len(photos)} photos in {photos.seconds:.0f} s ({len(photos) / max(photos.seconds, 1e-9):.0f}/s), "
        f"{photos.nbytes / 2**20:.0f} MiB ({shapes} per photo)"
    )


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
        photos = cache_frozen_features(
            model, dataset, device, workers=config.data.workers, amp=config.train.amp
        )
        report(f"{config.name}: frozen ImageNet features of the {role} photos cached: {describe(photos)}")
        return CachedLoader(photos, sampler)
    workers = config.data.workers
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, persistent_workers=workers > 0)
