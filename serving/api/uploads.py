"""Uploaded photos decoded under bounded memory: the first step of POST /v1/appraisals.

A request may carry 12 photos of 40 MP; held whole through the batch queue and the heatmap
rendering they would cost about 1.4 GB per request, with some 40 requests in the threadpool.
So the work here is bounded three ways:

- at most `Settings.max_concurrent_decodes` requests decode at once (the rest wait their turn);
- each photo becomes a working copy no larger than the steps after need (the models read 224
  to 256 px, the quality gate 512 px, heatmaps at most 1,024 px): short side at most
  `WORKING_SHORT_SIDE`, long side at most `WORKING_LONG_SIDE`; JPEGs are decoded at a reduced
  scale straight away (libjpeg DCT scaling), so their full size is never in memory;
- the uploaded bytes go to the photo store as soon as every photo has decoded, and are not
  kept while the request waits for inference.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass

from fastapi import UploadFile
from PIL import Image

from data.decode import DecodeLimits, ImageDecodeError, decode_image
from serving.api.problems import Problem
from serving.store.photos import PhotoStore

WORKING_SHORT_SIDE = 1024
WORKING_LONG_SIDE = 4096


@dataclass(frozen=True)
class DecodedPhotos:
    images: list[Image.Image]  # working copies, upright 8-bit RGB
    sizes: list[tuple[int, int]]  # (width, height) as uploaded, upright
    digests: list[str]  # the uploaded bytes' sha256, in the photo store


def working_copy(image: Image.Image) -> Image.Image:
    """`image` scaled down (never up) to the working size limits."""
    width, height = image.size
    scale = min(1.0, WORKING_SHORT_SIDE / min(width, height), WORKING_LONG_SIDE / max(width, height))
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)


def _upright_size(data: bytes, decoded: Image.Image) -> tuple[int, int]:
    """The uploaded photo's size, upright, even when it was decoded at a reduced scale."""
    with Image.open(io.BytesIO(data)) as header:  # reads the header only; decode_image vetted it
        width, height = header.size
    turned = decoded.size[0] > decoded.size[1]
    return (max(width, height), min(width, height)) if turned else (min(width, height), max(width, height))


def decode_uploads(
    photos: list[UploadFile], limits: DecodeLimits, store: PhotoStore, slots: threading.Semaphore
) -> DecodedPhotos:
    """Every photo decoded to its working copy, or a 413/422 problem naming the first bad one."""
    images, sizes, blobs = [], [], []
    with slots:
        for number, upload in enumerate(photos, start=1):
            data = upload.file.read(limits.max_bytes + 1)
            try:
                decoded = decode_image(data, limits=limits, reduce_to=WORKING_SHORT_SIDE)
            except ImageDecodeError as exc:
                name = upload.filename or f"photo {number}"
                raise Problem(
                    413 if exc.code == "too_large" else 422,
                    f"photo {number} ({name}): {exc}",
                    f"photo-{exc.code.replace('_', '-')}",
                    photo=number,
                ) from None
            sizes.append(_upright_size(data, decoded))
            images.append(working_copy(decoded))
            blobs.append(data)
    digests = [store.put(data) for data in blobs]
    return DecodedPhotos(images, sizes, digests)
