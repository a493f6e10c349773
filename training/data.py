"""Manifest -> torch dataset, and a sampler that keeps each item's photos in one batch.

Each photo is decoded with the safe decoder, augmented by albumentations (with its
defect bitmask), then turned into model input by serving's one `preprocess`. Masks are
brought to the segmentation head's 1/4 resolution (a cell is a defect where any pixel is).
Randomness is seeded per (seed, epoch, photo), so an interrupted run resumes onto the same
batches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from data.decode import decode_image
from data.manifest import join_list, read_manifest, resolve_image_path, split_list
from data.masks import cue_region, load_bitmask, shrink_bitmask, unpack_bits
from data.splits import split_for_item
from data.taxonomy import Taxonomy, load_taxonomy
from secondlook.errors import InputError
from serving.preprocess import PreprocessSpec, normalise, resize
from serving.tasks import CLASSIFICATION_TASKS, CUES, DEFECTS, EVIDENCE, ORDINAL_TASK
from training.augment import build_augment
from training.config import DataConfig
from training.targets import Targets, build_targets

SEG_STRIDE = 4
REVIEWER_NAMESPACE = "reviewer:"  # hashes a reviewer's partition apart from the benchmark's split


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def first_items(frame: pd.DataFrame, count: int) -> pd.DataFrame:
    """Every row of the first `count` items of `frame`, in its order."""
    return frame[frame["item_id"].isin(frame["item_id"].drop_duplicates().head(count))]


def restrict_to_views(frame: pd.DataFrame, views: list[str]) -> pd.DataFrame:
    """Only the photos of `views`, for a reviewer that specialises in them (`data.views`).

    Where an item's cues are recorded (synthetic data), it counts as counterfeit only if one
    of its kept photos shows a cue, and its `item_cues` become those photos' cues: a stamp
    specialist is not asked about a screw it never sees. A counterfeit without recorded cues
    keeps its label (its kept photos may or may not show why)."""
    absent = [view for view in views if not frame["view"].eq(view).any()]
    if absent:
        present = ", ".join(sorted(frame["view"].dropna().astype(str).unique()))
        raise InputError(
            f"data.views: no photos of view(s) {', '.join(absent)} in the manifest (it has {present})"
        )
    kept = frame[frame["view"].isin(views)].copy()
    shown = kept.groupby("item_id")["cues"].transform(
        lambda cues: join_list(sorted({cue for value in cues for cue in split_list(value)}))
    )
    recorded = kept["authenticity"].eq("counterfeit") & kept["item_cues"].map(lambda v: bool(split_list(v)))
    kept.loc[recorded, "item_cues"] = shown[recorded].replace("", None)
    kept.loc[recorded & shown.eq(""), "authenticity"] = "authentic"
    return kept


def reviewer_splits(
    frame: pd.DataFrame,
    split_seed: int,
    val_fraction: float,
    max_items: int | None = None,
    validation: str = "reviewer",
    train_items: int | None = None,
    views: list[str] | None = None,
) -> Splits:
    """A reviewer's own train/validation partition of the manifest's training items.

    The manifest's `val` items are held out from both reviewers (the verdict policy is fitted
    on them, `secondlook policy fit`), and its `test` items are the final evaluation. Rows
    without a split count as training items. Two reviewers with different `split_seed` train
    and validate (calibrate) on different items, which keeps their errors apart. With
    `validation="benchmark"` (learning curves) a reviewer trains on every training item and
    validates on the manifest's `val` items instead. `train_items` keeps only the first N
    training items (in manifest order), for curves of what more items buy. `views` keeps only
    the photos of those views, in every split (`restrict_to_views`).
    """
    if max_items is not None:
        frame = first_items(frame, max_items)
    if views:
        frame = restrict_to_views(frame, views)
    split = frame["split"].fillna("train").replace("", "train")
    pool = frame[split.eq("train").to_numpy()]
    test = frame[split.eq("test").to_numpy()].reset_index(drop=True)
    if validation == "benchmark":
        train, val = pool, frame[split.eq("val").to_numpy()]
    else:
        fractions = (1.0 - val_fraction, val_fraction, 0.0)
        part = pool["item_id"].map(
            lambda item: split_for_item(str(item), split_seed, fractions, namespace=REVIEWER_NAMESPACE)
        )
        train, val = pool[part == "train"], pool[part == "val"]
    if train_items is not None:
        train = first_items(train, train_items)
    return Splits(train.reset_index(drop=True), val.reset_index(drop=True), test)


def load_splits(data: DataConfig) -> Splits:
    """The splits a reviewer with this data configuration trains, validates and tests on."""
    frame = read_manifest(data.manifest)
    return reviewer_splits(
        frame,
        data.split_seed,
        data.val_fraction,
        data.max_items,
        data.validation,
        data.train_items,
        data.views,
    )


class PhotoDataset(Dataset):
    """One manifest row -> (image tensor, targets); see `training.targets` for the encoding."""

    def __init__(
        self,
        frame: pd.DataFrame,
        manifest_path: Path,
        spec: PreprocessSpec,
        augment: str = "none",
        seed: int = 0,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self.frame = frame.reset_index(drop=True)
        self.manifest_path = Path(manifest_path)
        self.spec = spec
        self.taxonomy = taxonomy or load_taxonomy()
        self.targets: Targets = build_targets(self.frame, self.taxonomy)
        self.augment = build_augment(augment)
        self.seed = seed
        self.epoch = 0
        self.n_defects = len(self.taxonomy.classes(DEFECTS))
        self.mask_size = spec.size // SEG_STRIDE

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.frame)

    def _mask(self, row: pd.Series, size: tuple[int, int]) -> np.ndarray:
        """The photo's defect bitmask as an 8-bit image (zeros when none or unknown)."""
        if not isinstance(row["mask_path"], str):
            return np.zeros((size[1], size[0]), np.uint8)
        mask_class = row["mask_class"] if isinstance(row["mask_class"], str) else None
        packed = load_bitmask(
            resolve_image_path(self.manifest_path, row["mask_path"]), mask_class, self.taxonomy
        )
        if packed.shape != (size[1], size[0]):
            packed = np.asarray(Image.fromarray(packed).resize(size, Image.Resampling.NEAREST))
        return packed

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.frame.iloc[index]
        image = decode_image(resolve_image_path(self.manifest_path, row["image_path"]))
        pixels = np.asarray(image)
        packed = self._mask(row, image.size)
        if self.augment is not None:
            self.augment.set_random_seed(
                int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])
            )
            out = self.augment(image=pixels, mask=packed)
            pixels, packed = out["image"], out["mask"]
        tensor = normalise(np.asarray(resize(Image.fromarray(pixels), self.spec)), self.spec)
        small = shrink_bitmask(packed, (self.mask_size, self.mask_size))
        mask = unpack_bits(small, self.n_defects).astype(np.float32)
        t = self.targets
        item = {
            "image": torch.from_numpy(tensor),
            "mask": torch.from_numpy(mask),
            "mask_known": torch.tensor(bool(t.mask_known[index])),
            "cue_region": torch.from_numpy(cue_region(small).astype(np.uint8)),
            ORDINAL_TASK: torch.tensor(t.condition[index]),
            EVIDENCE: torch.tensor(t.evidence[index]),
            CUES: torch.from_numpy(t.cue_labels[index]),
            "item_label": torch.tensor(t.item_label[index]),
            "item_index": torch.tensor(t.item_index[index]),
            "row": torch.tensor(index),
        }
        for task in CLASSIFICATION_TASKS:
            item[task] = torch.tensor(t.classes[task][index])
        return item


class ItemBatchSampler(Sampler[list[int]]):
    """Batches of whole items (all their photos), shuffled per epoch, sharded across ranks.

    Every rank gets the same number of batches so that distributed steps stay in lockstep.
    """

    def __init__(
        self,
        item_index: np.ndarray,
        batch_items: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.rows_by_item = [
            np.flatnonzero(item_index == i).tolist() for i in range(int(item_index.max()) + 1)
        ]
        self.batch_items = batch_items
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        order = np.arange(len(self.rows_by_item))
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch, 17]).permutation(order)
        batches = [
            [row for item in order[i : i + self.batch_items] for row in self.rows_by_item[item]]
            for i in range(0, len(order), self.batch_items)
        ]
        per_rank = max(1, len(batches) // self.world_size) if self.world_size > 1 else len(batches)
        if self.world_size > 1:
            batches = batches[: per_rank * self.world_size] or batches[:1] * self.world_size
            batches = batches[self.rank :: self.world_size]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())
