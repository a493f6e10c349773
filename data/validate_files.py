"""The manifest checks on disk: every image decodes safely (data/decode.py), every mask exists.

Paths are resolved as the manifest's readers resolve them (`resolve_image_path`); each
distinct file is checked once and reported on every row that names it.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from data.decode import ImageDecodeError, decode_image
from data.manifest import resolve_image_path
from data.validate_problem import ManifestProblem, data_row

# Only whether a photo decodes matters here, not its pixels: JPEGs are decoded at a
# reduced DCT scale, which still reads (and so checks) every byte of the file.
_DECODE_REDUCE_TO = 256


def check_mask_files(frame: pd.DataFrame, path: Path) -> list[ManifestProblem]:
    """A bad_mask for every mask_path not on disk."""
    mask_paths = frame["mask_path"].dropna()
    exists = {p: resolve_image_path(path, p).is_file() for p in mask_paths.unique()}
    missing = mask_paths[~mask_paths.map(exists).astype(bool)]
    return [
        ManifestProblem(
            data_row(i), "mask_path", "bad_mask", f"mask file not found: {resolve_image_path(path, p)}"
        )
        for i, p in missing.items()
    ]


def _decode_problem(file: Path) -> tuple[str, str] | None:
    try:
        decode_image(file, reduce_to=_DECODE_REDUCE_TO)
    except ImageDecodeError as exc:
        if exc.code == "not_found":
            return "missing_file", f"image file not found: {file}"
        return "unreadable_file", f"cannot decode ({exc.code}): {exc.message}"
    except RuntimeError:  # a broken environment (see decode_image), not a broken photo
        raise
    except Exception as exc:  # a decoder bug on one odd file must not stop the whole check
        return "unreadable_file", f"{file.name}: unexpected {type(exc).__name__} while decoding: {exc}"
    return None


def check_images(frame: pd.DataFrame, path: Path, *, workers: int, progress: bool) -> list[ManifestProblem]:
    """A missing_file or unreadable_file for every image_path that does not decode."""
    image_paths = frame["image_path"].dropna()
    files = {p: resolve_image_path(path, p) for p in image_paths.unique()}
    verdicts: dict[str, tuple[str, str] | None] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        futures = {pool.submit(_decode_problem, file): p for p, file in files.items()}
        done = as_completed(futures)
        if progress:
            from tqdm import tqdm

            done = tqdm(done, total=len(futures), desc="checking images", unit="file")
        for future in done:
            verdicts[futures[future]] = future.result()
    finally:  # on an error or Ctrl-C, do not decode the rest first
        pool.shutdown(wait=True, cancel_futures=True)
    return [
        ManifestProblem(data_row(i), "image_path", *verdict)
        for i, p in image_paths.items()
        if (verdict := verdicts[p]) is not None
    ]
