"""Decode and prepare one inventory item: the part of re-scoring that runs in worker processes."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

from data.decode import DecodeLimits, ImageDecodeError, decode_image, read_photo
from serving.batch.items import InventoryItem
from serving.runner import ItemRequest, Preparer, ReviewerPanel
from serving.settings import Settings, load_settings
from serving.tasks import CATEGORY


@dataclass(frozen=True)
class PreparedItem:
    item: InventoryItem
    request: ItemRequest
    sha256: tuple[str, ...]


@dataclass(frozen=True)
class ItemFailure:
    item: InventoryItem
    reason: str


@dataclass(frozen=True)
class ItemPreparer:
    """Everything a worker needs: the panel's Preparer and what the taxonomy allows."""

    preparer: Preparer
    views: tuple[str, ...]
    categories: tuple[str, ...]
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    max_photos: int = 12

    @classmethod
    def for_panel(cls, panel: ReviewerPanel, settings: Settings | None = None) -> ItemPreparer:
        """The panel's preparer under the server's limits (photo size, pixels, photos per item)."""
        settings = settings or load_settings()
        taxonomy = panel.taxonomy
        return cls(
            panel.preparer,
            tuple(taxonomy.view_names),
            tuple(taxonomy.classes(CATEGORY)),
            settings.decode_limits(),
            settings.max_photos,
        )

    def __call__(self, item: InventoryItem) -> PreparedItem | ItemFailure:
        if len(item.photos) > self.max_photos:
            return ItemFailure(
                item, f"{len(item.photos)} photos; at most {self.max_photos} per item (SECONDLOOK_MAX_PHOTOS)"
            )
        unknown = sorted({v for v in item.views if v is not None and v not in self.views})
        if unknown:
            return ItemFailure(item, f"unknown view {', '.join(unknown)}; use one of {', '.join(self.views)}")
        if item.category is not None and item.category not in self.categories:
            return ItemFailure(item, f"unknown category {item.category!r}")
        if item.declared_value is not None and (math.isnan(item.declared_value) or item.declared_value < 0):
            return ItemFailure(item, "declared_value is not a non-negative number")
        images, digests = [], []
        for number, path in enumerate(item.photos, start=1):
            try:
                data = read_photo(path, self.limits)
                images.append(decode_image(data, limits=self.limits))
            except ImageDecodeError as exc:
                if exc.code == "not_found":
                    return ItemFailure(item, f"photo {number} is missing: {path}")
                return ItemFailure(item, f"photo {number} ({path}): {exc}")
            digests.append(hashlib.sha256(data).hexdigest())
        request = ItemRequest(self.preparer.prepare(images), item.views, item.declared_value, item.category)
        return PreparedItem(item, request, tuple(digests))


_worker_preparer: ItemPreparer | None = None


def init_worker(preparer: ItemPreparer) -> None:
    global _worker_preparer
    _worker_preparer = preparer


def prepare_in_worker(item: InventoryItem) -> PreparedItem | ItemFailure:
    assert _worker_preparer is not None, "init_worker was not called"
    return _worker_preparer(item)
