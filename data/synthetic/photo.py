"""Taking the photo: light, white balance, exposure, framing, focus, sensor noise, JPEG.

All nuisances are drawn independently of the item's authenticity. The geometric
framing (rotation, perspective, zoom) is applied to the defect masks too, with
nearest-neighbour sampling so they stay exact labels.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from data.synthetic.config import Difficulty
from data.synthetic.scene import Light, Scene


@dataclass(frozen=True)
class Shot:
    """The nuisance parameters of one photo (recorded in the manifest for analysis)."""

    light: Light
    kelvin: float
    exposure: float
    rotation_deg: float
    corners: tuple[tuple[float, float], ...]  # source quad, as fractions of the size
    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int


def sample_shot(rng: np.random.Generator, level: Difficulty) -> Shot:
    light = Light(
        azimuth=float(rng.uniform(0, 2 * math.pi)),
        elevation=float(rng.uniform(0.55, 1.25)),
        ambient=float(rng.uniform(0.3, 0.45)),
    )
    rotation = float(rng.uniform(-level.rotation_deg, level.rotation_deg))
    # Inset the crop enough that the rotated, jittered quad stays inside the rendered scene.
    angle = math.radians(abs(rotation))
    margin = 0.5 * (math.sin(angle) + math.cos(angle) - 1) + level.perspective + 0.01
    inset = float(rng.uniform(margin, margin + 0.06))
    corners = []
    for ux, uy in ((0, 0), (1, 0), (1, 1), (0, 1)):
        x = inset + (1 - 2 * inset) * ux - 0.5
        y = inset + (1 - 2 * inset) * uy - 0.5
        c, s = math.cos(math.radians(rotation)), math.sin(math.radians(rotation))
        jx, jy = rng.uniform(-level.perspective, level.perspective, 2)
        corners.append((0.5 + c * x - s * y + jx, 0.5 + s * x + c * y + jy))
    return Shot(
        light=light,
        kelvin=float(rng.uniform(*level.color_temperature)),
        exposure=float(rng.uniform(*level.exposure)),
        rotation_deg=rotation,
        corners=tuple(corners),
        blur_sigma=float(rng.uniform(*level.blur_sigma)),
        noise_sigma=float(rng.uniform(*level.noise_sigma)),
        jpeg_quality=int(rng.integers(level.jpeg_quality[0], level.jpeg_quality[1] + 1)),
    )


def kelvin_rgb(kelvin: float) -> np.ndarray:
    """Approximate RGB of a black body (Tanner Helland's fit), relative to 6500 K."""

    def raw(k: float) -> np.ndarray:
        t = k / 100.0
        r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
        g = (
            99.4708025861 * math.log(t) - 161.1195681661
            if t <= 66
            else 288.1221695283 * (t - 60) ** -0.0755148492
        )
        b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * math.log(t - 10) - 305.0447927307)
        return np.clip(np.array([r, g, b]), 1, 255)

    return raw(kelvin) / raw(6500.0)


def perspective_coefficients(size: int, corners: tuple[tuple[float, float], ...]) -> tuple[float, ...]:
    """PIL PERSPECTIVE data mapping output pixel corners to the source quad."""
    dst = [(0, 0), (size, 0), (size, size), (0, size)]
    src = [(x * size, y * size) for x, y in corners]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    return tuple(np.linalg.solve(np.asarray(rows, float), np.asarray(rhs, float)).tolist())


def develop(scene: Scene, shot: Shot, rng: np.random.Generator) -> tuple[bytes, np.ndarray]:
    """Render the scene as a JPEG (bytes) and return the framed defect bitmask (H, W) uint8."""
    size = scene.size
    linear = scene.light(shot.light)
    balance = kelvin_rgb(shot.kelvin) ** 0.45  # auto white balance corrects about half the cast
    linear *= (balance / balance.mean() * shot.exposure).astype(np.float32)
    np.maximum(linear, 0, out=linear)
    # Soft shoulder: 1.08 x / (1 + 0.08 x), then 8-bit.
    denominator = linear * 0.08
    denominator += 1.0
    linear *= 1.08 * 255.0
    linear /= denominator
    if shot.noise_sigma > 0:
        # Sensor noise: luminance plus weaker chroma, before framing, so demosaicing-like
        # interpolation correlates it a little, as in real phone JPEGs. The factor 1.4 makes up
        # for the smoothing of the bilinear warp.
        linear += scene.bank.sensor_noise(size, rng) * np.float32(1.4 * shot.noise_sigma)
    np.clip(linear, 0, 254.5, out=linear)
    linear += 0.5
    image = Image.fromarray(linear.astype(np.uint8), mode="RGB")
    coefficients = perspective_coefficients(size, shot.corners)
    image = image.transform(
        (size, size), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR
    )
    if shot.blur_sigma > 0.15:
        # Defocus is a disk, not a Gaussian: one box pass of matching spread is closer and 3x faster.
        radius = (math.sqrt(12 * shot.blur_sigma**2 + 1) - 1) / 2
        image = image.filter(ImageFilter.BoxBlur(radius))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=shot.jpeg_quality, optimize=False, subsampling=2)
    # The defect bitmask is framed like the photo; nearest-neighbour keeps the bits exact.
    packed = scene.defects
    if packed.any():
        warped = Image.fromarray(packed, mode="L").transform(
            (size, size), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.NEAREST
        )
        packed = np.asarray(warped)
    return buffer.getvalue(), packed
