"""serving.api.uploads: photos decoded to bounded working copies, in bounded numbers at once."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.datastructures import UploadFile

from data.decode import DecodeLimits
from serving.api.problems import Problem
from serving.api.uploads import WORKING_LONG_SIDE, WORKING_SHORT_SIDE, decode_uploads
from serving.store.photos import PhotoStore


def _jpeg(width: int, height: int, orientation: int | None = None) -> bytes:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, axis=0)
    image = Image.fromarray(np.stack([x, x[::-1], 255 - x], axis=-1).astype(np.uint8))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80, exif=exif.tobytes())
    return buffer.getvalue()


def _uploads(*photos: bytes) -> list[UploadFile]:
    return [UploadFile(io.BytesIO(data), filename=f"p{i}.jpg") for i, data in enumerate(photos, start=1)]


def test_large_photos_become_working_copies_with_their_sizes_and_bytes_kept(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "photos")
    big, turned, panorama, small = _jpeg(6000, 4000), _jpeg(6000, 4000, 6), _jpeg(9000, 1500), _jpeg(640, 480)
    decoded = decode_uploads(
        _uploads(big, turned, panorama, small), DecodeLimits(), store, threading.BoundedSemaphore(1)
    )
    assert decoded.sizes == [(6000, 4000), (4000, 6000), (9000, 1500), (640, 480)]  # as uploaded, upright
    sizes = [image.size for image in decoded.images]
    assert sizes[0] == (1536, 1024) and sizes[1] == (1024, 1536)  # short side at the working size
    assert max(sizes[2]) == WORKING_LONG_SIDE and min(sizes[2]) < WORKING_SHORT_SIDE  # long side capped
    assert sizes[3] == (640, 480)  # never scaled up
    assert [store.get(d) for d in decoded.digests] == [big, turned, panorama, small]


def test_a_bad_photo_is_a_problem_naming_it_and_nothing_is_stored(tmp_path: Path) -> None:
    store = PhotoStore(tmp_path / "photos")
    with pytest.raises(Problem) as raised:
        decode_uploads(
            _uploads(_jpeg(640, 480), b"not a photo"), DecodeLimits(), store, threading.BoundedSemaphore(1)
        )
    assert raised.value.status == 422 and "photo 2 (p2.jpg)" in raised.value.detail
    assert not (tmp_path / "photos").exists() or not any((tmp_path / "photos").rglob("*.*"))


def test_requests_wait_for_a_free_decode_slot(tmp_path: Path) -> None:
    slots = threading.BoundedSemaphore(1)
    done = threading.Event()

    def upload() -> None:
        decode_uploads(_uploads(_jpeg(640, 480)), DecodeLimits(), PhotoStore(tmp_path / "p"), slots)
        done.set()

    with slots:  # another request is decoding
        worker = threading.Thread(target=upload)
        worker.start()
        assert not done.wait(0.5), "decoded without a free slot"
    worker.join(30)
    assert done.is_set()
