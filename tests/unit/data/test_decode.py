"""data.decode.decode_image: the allow-list, the limits, orientation and mode normalisation."""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from data.decode import DecodeLimits, ImageDecodeError, decode_image

SMALL = DecodeLimits(min_side=8)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(width: int = 64, height: int = 48, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))


def smooth(width: int = 64, height: int = 48) -> Image.Image:
    """A gradient: survives JPEG nearly unchanged, so decoded pixels can be compared."""
    x = np.linspace(0, 255, width)[None, :].repeat(height, axis=0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, axis=1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1).astype(np.uint8))


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(source, code: str | set[str] | None = None, **kwargs) -> ImageDecodeError:
    """Decode, expecting an ImageDecodeError; check its code and that the message names the file."""
    with pytest.raises(ImageDecodeError) as info:
        decode_image(source, **kwargs)
    error = info.value
    assert error.code and error.message and str(error) == error.message
    if code is not None:
        assert error.code in ({code} if isinstance(code, str) else code), error.message
    name = source.name if isinstance(source, Path) else "upload"
    assert name in error.message
    return error


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height 1-bit pixels, followed by a tiny IDAT."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def png_bomb(width: int, height: int) -> bytes:
    """A complete, valid 1-bit all-black PNG of width x height: a few KB for hundreds of megapixels."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    block = row * 1000
    parts = [compressor.compress(block) for _ in range(height // 1000)]
    parts.append(compressor.compress(row * (height % 1000)))
    parts.append(compressor.flush())
    data = png_header_only(width, height)
    start = data.index(b"IDAT") - 4
    idat = b"".join(parts)
    chunk = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    return data[:start] + chunk + data[-12:]  # header, real IDAT, IEND


@pytest.fixture
def no_pixel_loading(monkeypatch):
    """Fail the test if any image's pixel data is loaded (the bomb checks must come first)."""

    def forbidden(self):
        raise AssertionError("pixel data was loaded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)


# -- accepted formats -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "suffix", "options"),
    [("JPEG", ".jpg", {"quality": 95}), ("PNG", ".png", {}), ("WEBP", ".webp", {"lossless": True})],
)
def test_allowed_formats_decode_from_path_and_bytes(tmp_path, fmt, suffix, options):
    original = smooth(64, 48)
    data = encode(original, fmt, **options)
    for source in (write(tmp_path, "photo" + suffix, data), data, bytearray(data), memoryview(data)):
        image = decode_image(source)
        assert image.mode == "RGB" and image.size == (64, 48)
        error = np.abs(np.asarray(image, dtype=int) - np.asarray(original, dtype=int)).mean()
        assert error < (3 if fmt == "JPEG" else 0.01)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_other_formats_are_refused(tmp_path, fmt):
    data = encode(noise(), fmt)
    refused(write(tmp_path, f"photo.{fmt.lower()}", data), "unsupported_format")
    refused(data, "unsupported_format")


def test_content_decides_not_the_extension(tmp_path):
    png = encode(noise(), "PNG")
    assert decode_image(write(tmp_path, "actually_png.jpg", png)).size == (64, 48)
    gif = encode(noise(), "GIF")
    refused(write(tmp_path, "actually_gif.png", gif), "unsupported_format")


# -- limits -----------------------------------------------------------------------


def test_decompression_bomb_refused_without_loading(tmp_path, no_pixel_loading):
    data = png_bomb(20_000, 20_000)  # 400 megapixels, over Pillow's own hard limit too
    assert len(data) < 100_000
    tracemalloc.start()
    try:
        refused(write(tmp_path, "bomb.png", data), "too_many_pixels")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * len(data) + 2_000_000


def test_pixels_over_our_limit_but_under_pillows_refused_without_loading(tmp_path, no_pixel_loading):
    # 8000 x 8000 = 64 MP: over our default 50 MP, under Pillow's 89 MP warning threshold.
    error = refused(write(tmp_path, "big.png", png_header_only(8000, 8000)), "too_many_pixels")
    assert "8000x8000" in error.message
    # 10000 x 10000 = 100 MP: Pillow only warns (its hard stop is 179 MP); ours refuses.
    with pytest.warns(Image.DecompressionBombWarning):
        refused(png_header_only(10_000, 10_000), "too_many_pixels")
    # A custom, small limit: an ordinary 100 x 100 photo is refused on its header alone.
    refused(png_header_only(100, 100), "too_many_pixels", limits=DecodeLimits(max_pixels=5_000))


def test_pixel_limit_is_inclusive():
    assert decode_image(encode(noise(100, 50), "PNG"), limits=DecodeLimits(max_pixels=5_000)).size == (
        100,
        50,
    )
    refused(encode(noise(100, 51), "PNG"), "too_many_pixels", limits=DecodeLimits(max_pixels=5_000))


def test_byte_limit(tmp_path):
    data = encode(noise(), "PNG")
    limits = DecodeLimits(max_bytes=len(data) - 1)
    refused(write(tmp_path, "heavy.png", data), "too_large", limits=limits)
    refused(data, "too_large", limits=limits)
    assert decode_image(data, limits=DecodeLimits(max_bytes=len(data))).size == (64, 48)


def test_too_small(tmp_path):
    refused(write(tmp_path, "thumb.png", encode(noise(200, 31), "PNG")), "too_small")
    assert decode_image(encode(noise(200, 31), "PNG"), limits=DecodeLimits(min_side=31)).size == (200, 31)


# -- broken files -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files(tmp_path, fmt):
    data = encode(noise(256, 256), fmt)
    for cut in (len(data) // 2, len(data) - 200):
        refused(write(tmp_path, f"cut.{fmt.lower()}", data[:cut]), {"truncated", "corrupt"})


def test_truncated_jpeg_refused_also_when_decoded_reduced():
    data = encode(noise(512, 512), "JPEG")
    refused(data[: len(data) // 2], {"truncated", "corrupt"}, reduce_to=64)


def test_garbage_bytes(tmp_path):
    garbage = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    refused(write(tmp_path, "garbage.jpg", garbage), "unsupported_format")
    refused(
        b"\xff\xd8\xff" + garbage, {"unsupported_format", "corrupt", "truncated"}
    )  # a JPEG start, then noise


def test_empty_and_missing_files(tmp_path):
    refused(write(tmp_path, "empty.jpg", b""), "empty")
    refused(b"", "empty")
    error = refused(tmp_path / "nowhere.jpg", "not_found")
    assert "nowhere.jpg" in error.message


def test_only_regular_files_are_read(tmp_path):
    """A folder, a device that never ends and a FIFO without a writer are refused at once."""
    (tmp_path / "folder.jpg").mkdir()
    refused(tmp_path / "folder.jpg", "not_a_file")
    refused(Path("/dev/zero"), "not_a_file")
    os.mkfifo(tmp_path / "pipe.jpg")
    refused(tmp_path / "pipe.jpg", "not_a_file")


def test_relaxed_pillow_setting_is_refused(monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        decode_image(encode(noise(), "PNG"))


# -- orientation ------------------------------------------------------------------


def _oriented_jpeg(orientation: int, exif: Image.Exif | None = None) -> bytes:
    """40x20 stored pixels: blue, with a red 10x10 block in the stored top-left corner."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 10))
    exif = exif if exif is not None else Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=95, exif=exif)


def _is_red(pixel) -> bool:
    return pixel[0] > 200 and pixel[2] < 60


def test_exif_orientation_applied():
    image = decode_image(_oriented_jpeg(6), limits=SMALL)  # 6: rotate 90° clockwise to display
    assert image.size == (20, 40)
    assert _is_red(image.getpixel((15, 4)))  # the stored top-left is now top-right
    assert not _is_red(image.getpixel((4, 4)))
    assert not _is_red(image.getpixel((15, 35)))
    # the orientation is consumed: a second exif_transpose downstream does not rotate again
    from PIL import ImageOps

    assert ImageOps.exif_transpose(image).size == (20, 40)


@pytest.mark.parametrize(("orientation", "size", "red_at"), [(1, (40, 20), (4, 4)), (3, (40, 20), (35, 15))])
def test_other_orientations(orientation, size, red_at):
    image = decode_image(_oriented_jpeg(orientation), limits=SMALL)
    assert image.size == size
    assert _is_red(image.getpixel(red_at))


def test_malformed_exif_tag_does_not_break_decoding():
    """A tag of the wrong type (XResolution as text) must not stop the orientation or the decode.

    Regression: ImageOps.exif_transpose re-serialises the EXIF block and raised TypeError here.
    """
    header = b"MM\x00*" + struct.pack(">I", 8)
    entries = [
        struct.pack(">HHI", 0x0112, 3, 1) + struct.pack(">H", 6) + b"\0\0",  # Orientation = 6
        struct.pack(">HHI", 0x011A, 2, 4) + b"abc\0",  # XResolution, as ASCII instead of RATIONAL
    ]
    exif = b"Exif\0\0" + header + struct.pack(">H", len(entries)) + b"".join(entries) + struct.pack(">I", 0)
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 10))
    decoded = decode_image(encode(image, "JPEG", quality=95, exif=exif), limits=SMALL)
    assert decoded.size == (20, 40)
    assert _is_red(decoded.getpixel((15, 4)))


# -- mode normalisation -----------------------------------------------------------


def _pixel(data: bytes, xy=(5, 5)) -> tuple[int, ...]:
    image = decode_image(data)
    assert image.mode == "RGB"
    return image.getpixel(xy)


def _close(actual, expected, tolerance=3) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_cmyk_jpeg():
    data = encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    assert _close(_pixel(data), (255, 0, 0))


def test_palette_png_with_transparency_on_white():
    image = Image.new("P", (40, 40), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.paste(1, (0, 0, 20, 40))  # left half: index 1 (blue), made transparent
    data = encode(image, "PNG", transparency=1)
    assert _pixel(data, (5, 5)) == (255, 255, 255)
    assert _pixel(data, (30, 5)) == (255, 0, 0)


def test_16_bit_grayscale_png_scaled():
    values = np.array([[0, 257 * 100, 65535, 200]], dtype=np.uint16).repeat(40, axis=0).repeat(10, axis=1)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    image = np.asarray(decode_image(data))
    assert image[0, [0, 10, 20, 30], 0].tolist() == [0, 100, 255, 1]  # 200/65535 is dark, not 200/255


def test_16_bit_conversion_works_in_integers():
    """A 16-bit photo costs a few bytes a pixel to convert, not float64 copies (8 bytes each)."""
    side = 1500
    values = np.random.default_rng(0).integers(0, 65535, (side, side), dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    tracemalloc.start()
    try:
        decode_image(data)
        _, peak = tracemalloc.get_traced_memory()  # numpy's arrays are traced, Pillow's buffers are not
    finally:
        tracemalloc.stop()
    assert peak < 12 * side * side, f"{peak / side / side:.1f} bytes a pixel"  # float64: 24


def test_alpha_composited_on_white():
    la = Image.new("LA", (40, 40), (0, 0))
    la.paste((0, 255), (0, 0, 20, 40))
    data = encode(la, "PNG")
    assert _pixel(data, (5, 5)) == (0, 0, 0)  # opaque black
    assert _pixel(data, (30, 5)) == (255, 255, 255)  # fully transparent -> white
    half_red = encode(Image.new("RGBA", (40, 40), (255, 0, 0, 128)), "PNG")
    assert _close(_pixel(half_red), (255, 127, 127), 1)
    half_red_webp = encode(Image.new("RGBA", (40, 40), (255, 0, 0, 128)), "WEBP", lossless=True)
    assert _close(_pixel(half_red_webp), (255, 127, 127), 1)


def test_grayscale_and_1_bit():
    assert _pixel(encode(Image.new("L", (40, 40), 77), "PNG")) == (77, 77, 77)
    assert _close(_pixel(encode(Image.new("L", (40, 40), 77), "JPEG")), (77, 77, 77), 1)
    one = Image.new("1", (40, 40), 0)
    one.paste(1, (0, 0, 20, 40))
    data = encode(one, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "1"
    assert _pixel(data, (5, 5)) == (255, 255, 255)
    assert _pixel(data, (30, 5)) == (0, 0, 0)


# -- reduced decoding ---------------------------------------------------------------


def test_reduce_to_decodes_a_big_jpeg_smaller():
    data = encode(noise(1600, 1200), "JPEG")
    full = decode_image(data)
    assert full.size == (1600, 1200)
    for target in (300, 100):
        small = decode_image(data, reduce_to=target)
        assert min(small.size) >= target
        assert small.size[0] < 1600 and small.size[1] < 1200
        assert small.size[0] / small.size[1] == pytest.approx(4 / 3, rel=0.02)
    assert decode_image(data, reduce_to=2000).size == (1600, 1200)  # never upscaled


def test_reduce_to_leaves_png_alone():
    assert decode_image(encode(noise(400, 300), "PNG"), reduce_to=64).size == (400, 300)
