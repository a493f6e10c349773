"""Safe decoding of untrusted photos: the one function every part uses.

Photos come from appraisers' phones, marketplace scrapes and public datasets. Before
a pixel reaches a model they pass here: format allow-list (sniffed from the bytes,
never the file name), byte and pixel limits checked before decoding (decompression
bombs), EXIF orientation applied, every mode normalised to 8-bit RGB. Anything wrong
raises `ImageDecodeError` with a `code` for machines and a message for people.
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageFile, UnidentifiedImageError

from secondlook.errors import SecondlookError

ALLOWED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP")


@dataclass(frozen=True)
class DecodeLimits:
    """Upper bounds for one photo; the defaults fit phone photos with ample margin."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000
    min_side: int = 32


class ImageDecodeError(SecondlookError, ValueError):
    """A photo that cannot or must not be decoded. `code` is stable; the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def read_photo(path: str | Path, limits: DecodeLimits = DecodeLimits()) -> bytes:
    """The bytes of a photo file, read no further than the byte limit.

    Only regular files: a path from a manifest may name a device (`/dev/zero` never ends), a
    FIFO or a folder, and a file may grow while it is read."""
    path = Path(path)
    try:
        # Non-blocking open: opening a FIFO for reading would otherwise wait for a writer.
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(descriptor, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ImageDecodeError("not_a_file", f"{path}: not a regular file")
            if info.st_size > limits.max_bytes:
                raise ImageDecodeError("too_large", _too_large(path.name, info.st_size, limits))
            data = handle.read(info.st_size + 1)  # one more byte shows a file still growing
            if len(data) != info.st_size:
                raise ImageDecodeError("unreadable", f"{path}: the file changed while it was read")
    except FileNotFoundError:
        raise ImageDecodeError("not_found", f"{path}: file not found") from None
    except IsADirectoryError:
        raise ImageDecodeError("not_a_file", f"{path}: not a regular file") from None
    except OSError as exc:
        raise ImageDecodeError("unreadable", f"{path}: cannot read file ({exc.strerror})") from None
    return data


def _read_bytes(source: str | Path | bytes, limits: DecodeLimits) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "upload"
    else:
        data, name = read_photo(source, limits), Path(source).name
    if len(data) > limits.max_bytes:
        raise ImageDecodeError("too_large", _too_large(name, len(data), limits))
    if not data:
        raise ImageDecodeError("empty", f"{name}: the file is empty")
    return data, name


def _too_large(name: str, size: int, limits: DecodeLimits) -> str:
    return f"{name}: {size / 1e6:.1f} MB is over the {limits.max_bytes / 1e6:.0f} MB limit for one photo"


_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION_METADATA = ("exif", "xmp", "XML:com.adobe.xmp", "Raw profile type exif")


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation, as `ImageOps.exif_transpose` does, and drop the metadata that held it.

    Not `exif_transpose` itself: after rotating it re-serialises the whole EXIF block, and
    Pillow raises struct.error or TypeError there when any tag (one we never read) has a
    value of the wrong type, which a sloppy phone app or a hostile upload easily produces.
    """
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    method = _TRANSPOSE_FOR_ORIENTATION.get(orientation) if isinstance(orientation, int) else None
    if method is None:
        return image
    upright = image.transpose(method)
    for key in _ORIENTATION_METADATA:  # so a later exif_transpose cannot rotate it a second time
        upright.info.pop(key, None)
    return upright


def _to_8bit(array: np.ndarray, mode: str) -> np.ndarray:
    """16- or 32-bit integer grey levels to 8 bits, rounded, in integer arithmetic.

    One uint32 working array (4 bytes a pixel) instead of float64 copies (8 bytes a pixel,
    several of them): a 40 MP 16-bit PNG costs 160 MB here, not over a gigabyte."""
    wide = array.astype(np.uint32) if array.dtype == np.uint16 else np.clip(array, 0, 65535).astype(np.uint32)
    if mode.startswith("I;16") or int(wide.max(initial=0)) > 255:
        wide *= 255
        wide += 32767
        wide //= 65535
    return wide.astype(np.uint8)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Normalise any mode to 8-bit RGB; transparency is composited onto white."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return Image.fromarray(_to_8bit(np.asarray(image), image.mode), mode="L").convert("RGB")
    if image.mode == "F":
        array = np.asarray(image, dtype=np.float32)
        scaled = np.clip(array * (255.0 if array.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled, mode="L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(
    source: str | Path | bytes,
    *,
    limits: DecodeLimits = DecodeLimits(),
    reduce_to: int | None = None,
) -> Image.Image:
    """Decode an untrusted photo to an upright 8-bit RGB `PIL.Image`.

    `reduce_to`: when the caller will shrink the photo to about this many pixels on the
    short side anyway, JPEGs are decoded at a reduced scale (libjpeg DCT scaling), which
    is several times faster than decoding at full size and resizing.
    """
    return _decode(source, limits, ALLOWED_FORMATS, reduce_to, photo=True)


MASK_LIMITS = DecodeLimits(min_side=1)  # a mask may be stored at a fraction of its photo's size


def decode_mask_image(source: str | Path | bytes, *, limits: DecodeLimits = MASK_LIMITS) -> Image.Image:
    """Decode an untrusted mask image (PNG only) under the same limits, keeping its own mode.

    Masks carry class indices or bits in their pixel values, so neither orientation nor a
    conversion to RGB may touch them."""
    return _decode(source, limits, ("PNG",), None, photo=False)


def _decode(
    source: str | Path | bytes,
    limits: DecodeLimits,
    formats: tuple[str, ...],
    reduce_to: int | None,
    photo: bool,
) -> Image.Image:
    data, name = _read_bytes(source, limits)
    try:
        # Pillow itself refuses absurd sizes (DecompressionBombError); ours is the tighter check below.
        image = Image.open(io.BytesIO(data), formats=list(formats))
    except UnidentifiedImageError:
        allowed = (
            "a JPEG, PNG or WebP image" if formats == ALLOWED_FORMATS else f"a {' or '.join(formats)} image"
        )
        raise ImageDecodeError(
            "unsupported_format",
            f"{name}: not {allowed} (the content decides, not the file name)",
        ) from None
    except Image.DecompressionBombError:
        raise ImageDecodeError("too_many_pixels", f"{name}: image dimensions are too large") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError("corrupt", f"{name}: the image header is corrupt ({exc})") from None

    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageDecodeError(
            "too_many_pixels",
            f"{name}: {width}x{height} is {width * height / 1e6:.0f} megapixels, over the "
            f"{limits.max_pixels / 1e6:.0f} MP limit",
        )
    if min(width, height) < limits.min_side:
        raise ImageDecodeError(
            "too_small", f"{name}: {width}x{height} is too small (the short side needs {limits.min_side} px)"
        )
    if reduce_to is not None and image.format == "JPEG":
        image.draft("RGB", (reduce_to, reduce_to))  # keeps the short side >= reduce_to

    if ImageFile.LOAD_TRUNCATED_IMAGES:  # someone relaxed Pillow globally; we never accept half a photo
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; safe decoding needs it False")
    try:
        image.load()
        return _to_rgb(_upright(image)) if photo else image
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageDecodeError(
            "truncated" if "truncated" in str(exc).lower() else "corrupt",
            f"{name}: the image data is truncated or corrupt ({exc})",
        ) from None
