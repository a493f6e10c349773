"""Leather grain as height maps, cut from a small bank of tiles made once per process.

Making noise is the slow part of rendering; a bank seeded by the benchmark seed is
built once per worker, and each photo takes a random crop, flip and transpose of a
tile, so workers agree byte for byte whatever photo they render.
"""

from __future__ import annotations

import numpy as np

TILE = 512
SENSOR_TILE = 1024  # the largest photo size
TILES_PER_KIND = 3


def gaussian_filter_fft(noise: np.ndarray, sigma: float) -> np.ndarray:
    """Periodic Gaussian blur in the Fourier domain: fast for whole tiles, seamless at the edges."""
    h, w = noise.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (fx**2 + fy**2))
    return np.fft.irfft2(np.fft.rfft2(noise) * kernel, s=(h, w))


def _normalise(x: np.ndarray) -> np.ndarray:
    x = x - x.mean()
    return (x / (np.abs(x).max() + 1e-9)).astype(np.float32)


def _pebbled(rng: np.random.Generator) -> np.ndarray:
    coarse = _normalise(gaussian_filter_fft(rng.normal(size=(TILE, TILE)), 1.8))
    pebbles = np.sqrt(np.clip(1.0 - np.abs(coarse) * 2.2, 0, 1))  # rounded pebbles, creases between
    fine = _normalise(gaussian_filter_fft(rng.normal(size=(TILE, TILE)), 0.8))
    return _normalise(pebbles + 0.2 * fine)


def _smooth(rng: np.random.Generator) -> np.ndarray:
    broad = _normalise(gaussian_filter_fft(rng.normal(size=(TILE, TILE)), 8.0))
    fine = _normalise(gaussian_filter_fft(rng.normal(size=(TILE, TILE)), 1.2))
    return _normalise(broad + 0.15 * fine) * 0.35


def _saffiano(rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:TILE, 0:TILE].astype(np.float32)
    period = 5.0
    wobble = gaussian_filter_fft(rng.normal(size=(TILE, TILE)), 6.0) * 40
    a = np.sin((x + y + wobble) * 2 * np.pi / period / np.sqrt(2))
    b = np.sin((x - y - wobble) * 2 * np.pi / period / np.sqrt(2))
    fine = _normalise(gaussian_filter_fft(rng.normal(size=(TILE, TILE)), 0.8))
    return _normalise(np.maximum(a, b) + 0.4 * fine) * 0.8


_MAKERS = {"pebbled": _pebbled, "smooth": _smooth, "saffiano": _saffiano}


class TextureBank:
    """A few tiles of each leather kind plus generic noise tiles, seeded by the benchmark seed."""

    def __init__(self, seed: int, photo_size: int = 256) -> None:
        rng = np.random.default_rng([seed, 7919])
        self.tiles = {kind: [make(rng) for _ in range(TILES_PER_KIND)] for kind, make in _MAKERS.items()}
        self.tiles["blotch"] = [
            _normalise(gaussian_filter_fft(rng.normal(size=(TILE, TILE)), s)) for s in (4.0, 10.0, 20.0)
        ]
        self.tiles["white"] = [_normalise(rng.normal(size=(TILE, TILE)))]
        # Sensor noise per pixel and channel: shared luminance plus weaker chroma (std 1 and
        # 0.4), premixed once so that a photo adds it in one pass. Cropped per photo.
        self.sensor_tile = min(SENSOR_TILE, 2 * photo_size)
        planes = rng.standard_normal((self.sensor_tile, self.sensor_tile, 4), dtype=np.float32)
        self.sensor = planes[..., :1] + np.float32(0.4) * planes[..., 1:]

    def sensor_noise(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """A (size, size, 3) float32 crop of the premixed sensor noise, randomly flipped."""
        y, x = (int(v) for v in rng.integers(0, self.sensor_tile - size + 1, 2))
        patch = self.sensor[y : y + size, x : x + size]
        return patch[::-1] if rng.random() < 0.5 else patch

    def crop(self, kind: str, size: int, rng: np.random.Generator, zoom: float = 1.0) -> np.ndarray:
        """A (size, size) float32 crop of a random tile of `kind`; zoom > 1 magnifies the grain."""
        tiles = self.tiles[kind]
        tile = tiles[int(rng.integers(len(tiles)))]
        span = min(TILE, max(8, round(size / zoom)))
        y, x = (int(v) for v in rng.integers(0, TILE - span + 1, 2))
        patch = tile[y : y + span, x : x + span]
        if rng.random() < 0.5:
            patch = patch.T
        if rng.random() < 0.5:
            patch = patch[::-1]
        if span != size:
            idx = (np.arange(size) * span / size).astype(np.int64)
            patch = patch[idx][:, idx]
        return np.ascontiguousarray(patch, dtype=np.float32)
