"""A scene is a stack of material layers, lit once at the end.

Painting writes albedo, height, gloss and metalness through a coverage mask; `light`
turns the layers into an RGB image with diffuse shading from the height field's
normals, a specular highlight, and a fake environment reflection that makes metal
look like metal. Defect masks ride along, one channel per defect class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from data.masks import CUE_REGION_BIT

SUPERSAMPLE = 2

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
Draw = Callable[[ImageDraw.ImageDraw, float], None]  # draws in white at scale s (see `coverage`)


@dataclass
class Light:
    azimuth: float  # radians, direction the light comes from in the image plane
    elevation: float  # radians above the surface
    ambient: float = 0.35

    @property
    def vector(self) -> np.ndarray:
        c = np.cos(self.elevation)
        return np.array([c * np.cos(self.azimuth), c * np.sin(self.azimuth), np.sin(self.elevation)])


class Scene:
    def __init__(self, size: int, defect_index: dict[str, int], bank: Any) -> None:
        self.size = size
        self.bank = bank  # the process's TextureBank, for materials painted into this scene
        self.albedo = np.zeros((size, size, 3), np.float32)
        self.height = np.zeros((size, size), np.float32)
        self.gloss = np.zeros((size, size), np.float32)
        self.metal = np.zeros((size, size), np.float32)
        # Defect labels as a bitmask (bit i = defect class i), the format masks are stored in.
        self.defects = np.zeros((size, size), np.uint8)
        self.defect_index = defect_index

    def _fill(self, rgb, height, add_height, gloss, metal) -> None:
        if rgb is not None:
            self.albedo[...] = np.asarray(rgb, np.float32)
        if height is not None:
            self.height[...] = height
        if add_height is not None:
            self.height += add_height
        if gloss is not None:
            self.gloss[...] = gloss
        if metal is not None:
            self.metal[...] = metal

    def paint(
        self,
        coverage: np.ndarray | None,
        rgb: tuple[float, float, float] | np.ndarray | None = None,
        height: np.ndarray | float | None = None,
        add_height: np.ndarray | float | None = None,
        gloss: float | None = None,
        metal: float | None = None,
    ) -> None:
        """Blend material properties in where `coverage` (0..1 float) says; None means everywhere.

        Array arguments are full-size maps; work is confined to the coverage's bounding box.
        """
        if coverage is None:  # everywhere: plain assignment, no blending
            self._fill(rgb, height, add_height, gloss, metal)
            return
        box = bounding_box(coverage)
        if box is None:
            return
        a = coverage[box].astype(np.float32, copy=False)
        if rgb is not None:
            rgb = np.asarray(rgb, np.float32)
            if rgb.ndim == 3:
                rgb = rgb[box]
            a3 = a[..., None]
            albedo = self.albedo[box]
            albedo += a3 * (rgb - albedo)
        if height is not None:
            target = height[box] if isinstance(height, np.ndarray) else height
            region = self.height[box]
            region += a * (target - region)
        if add_height is not None:
            self.height[box] += a * (add_height[box] if isinstance(add_height, np.ndarray) else add_height)
        if gloss is not None:
            region = self.gloss[box]
            region += a * (gloss - region)
        if metal is not None:
            region = self.metal[box]
            region += a * (metal - region)

    def mark_defect(self, name: str, coverage: np.ndarray, threshold: float = 0.35) -> None:
        self.defects |= (coverage > threshold).astype(np.uint8) << self.defect_index[name]

    def mark_cue_region(self, twin: Scene) -> None:
        """Set bit CUE_REGION_BIT where this scene's materials differ from `twin`'s, i.e. where a
        counterfeit's cue shows against its genuine twin (same item, same framing, no cue).
        The thresholds are below any cue's change and above float noise."""
        region = np.abs(self.albedo - twin.albedo).max(axis=2) > 0.01
        region |= np.abs(self.height - twin.height) > 0.05
        region |= np.abs(self.gloss - twin.gloss) > 0.02
        region |= np.abs(self.metal - twin.metal) > 0.02
        self.defects |= region.astype(np.uint8) << CUE_REGION_BIT

    def light(self, light: Light, relief: float = 6.0) -> np.ndarray:
        """Shade the layers into linear RGB in [0, ~1.2] (float32, in-place arithmetic for speed)."""
        nx, ny, nz = self._normals(relief)
        lx, ly, lz = (float(v) for v in light.vector)
        diffuse = nx * lx
        diffuse += ny * ly
        diffuse += nz * lz
        np.clip(diffuse, 0.0, 1.0, out=diffuse)
        specular = self._specular(nx, ny, nz, (lx, ly, lz))
        shade = diffuse * (1 - light.ambient)
        shade += light.ambient
        gain = self._metal_gain(shade, diffuse, (nx, ny, nz))
        colour = self.albedo * gain[..., None]
        highlight = self.albedo * (self.metal * 0.2)[..., None]
        highlight += 0.8
        highlight *= specular[..., None]
        colour += highlight
        return colour

    def _normals(self, relief: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unit surface normals of the height field, exaggerated by `relief`."""
        gy, gx = np.gradient(self.height)
        nx = gx
        nx *= -relief
        ny = gy
        ny *= -relief
        nz = nx * nx
        nz += ny * ny
        nz += 1.0
        np.sqrt(nz, out=nz)
        np.reciprocal(nz, out=nz)
        nx *= nz
        ny *= nz
        return nx, ny, nz

    def _specular(
        self, nx: np.ndarray, ny: np.ndarray, nz: np.ndarray, light: tuple[float, float, float]
    ) -> np.ndarray:
        """Blinn-Phong highlight with the viewer straight above; leather ^8, metal ^32, times gloss."""
        lx, ly, lz = light
        hn = float(np.sqrt(lx * lx + ly * ly + (lz + 1.0) ** 2))
        d = nx * (lx / hn)
        d += ny * (ly / hn)
        d += nz * ((lz + 1.0) / hn)
        np.clip(d, 0.0, 1.0, out=d)
        d *= d
        d *= d
        d *= d  # d^8
        d32 = d * d
        d32 *= d32  # d^32
        d32 -= d
        d32 *= self.metal
        d32 += d
        specular = d32
        specular *= self.gloss
        return specular

    def _metal_gain(
        self, shade: np.ndarray, diffuse: np.ndarray, normals: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> np.ndarray:
        """The diffuse `shade`, blended by metalness toward a fake environment reflection.

        Only computed where there is metal; without metal, `shade` itself is returned.
        """
        box = bounding_box(self.metal)
        if box is None:
            return shade
        nx, ny, nz = normals
        env = nx[box] * 3.2
        env += ny[box] * 2.1
        env += nz[box] * 1.3
        env += 0.3 - 1.3
        np.sin(env, out=env)
        env *= 0.45 * 0.9
        env += 0.5 * 0.9  # 0.9 * environment
        half_diffuse = diffuse[box] * 0.5
        half_diffuse += 0.5
        env *= half_diffuse
        env += 0.25  # metallic gain
        env -= shade[box]
        env *= self.metal[box]
        gain = shade.copy()
        gain[box] += env  # blended by metalness
        return gain


def bounding_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice] | None:
    """Slices around the non-zero part of a 2-D mask (grown by `pad`), or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (
        slice(max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad)),
        slice(max(0, cols[0] - pad), min(w, cols[-1] + 1 + pad)),
    )


def coverage(size: int, draw: Draw, blur: float = 0.0) -> np.ndarray:
    """Antialiased coverage mask: `draw(d, s)` draws in white at scale s = SUPERSAMPLE.

    Only the drawn bounding box is downsampled (and blurred), which keeps small shapes cheap.
    """
    s = SUPERSAMPLE
    big = Image.new("L", (size * s, size * s), 0)
    draw(ImageDraw.Draw(big), float(s))
    out = np.zeros((size, size), np.float32)
    bbox = big.getbbox()
    if bbox is None:
        return out
    pad = int(3 * blur) + 2 if blur > 0 else 0
    x0, y0 = max(0, bbox[0] // s - pad), max(0, bbox[1] // s - pad)
    x1, y1 = min(size, -(-bbox[2] // s) + pad), min(size, -(-bbox[3] // s) + pad)
    small = big.resize((x1 - x0, y1 - y0), Image.Resampling.BOX, box=(x0 * s, y0 * s, x1 * s, y1 * s))
    if blur > 0:
        small = small.filter(ImageFilter.GaussianBlur(blur))
    out[y0:y1, x0:x1] = np.asarray(small, dtype=np.float32) / 255.0
    return out


def blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float mask in [0, 1] via PIL (8-bit precision is plenty for masks)."""
    out = np.zeros(mask.shape, np.float32)
    box = bounding_box(mask > 0.002, pad=int(3 * sigma) + 2)
    if box is None:
        return out
    image = Image.fromarray(np.clip(mask[box] * 255 + 0.5, 0, 255).astype(np.uint8), mode="L")
    out[box] = np.asarray(image.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255.0
    return out


def blur_float(values: np.ndarray, sigma: float) -> np.ndarray:
    """Approximate Gaussian blur of a float map (heights): three box blurs per axis, edges clamped.

    Wide blurs run at half resolution and are scaled back up bilinearly: the result is
    smooth anyway, and it costs a quarter of the work.
    """
    result = np.zeros(values.shape, np.float32)
    box = bounding_box(values != 0, pad=int(3 * sigma) + 2)
    if box is None:
        return result
    region = values[box].astype(np.float32)
    h, w = region.shape
    if sigma >= 3.0 and h >= 8 and w >= 8:
        half = region[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
        small = _box_blur3(half, sigma / 2)
        image = Image.fromarray(small, mode="F").resize((w, h), Image.Resampling.BILINEAR)
        result[box] = np.asarray(image, dtype=np.float32)
    else:
        result[box] = _box_blur3(region, sigma)
    return result


def _box_blur3(values: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, round(np.sqrt(12 * sigma * sigma / 3 + 1) / 2))
    out = values
    for axis in (0, 1):
        for _ in range(3):
            out = _box(out, radius, axis)
    return out


def _box(values: np.ndarray, radius: int, axis: int) -> np.ndarray:
    pad = [(0, 0), (0, 0)]
    pad[axis] = (radius + 1, radius)
    padded = np.pad(values, pad, mode="edge")
    summed = np.cumsum(padded, axis=axis, dtype=np.float64)
    n = values.shape[axis]
    upper = np.take(summed, np.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lower = np.take(summed, np.arange(0, n), axis=axis)
    return ((upper - lower) / (2 * radius + 1)).astype(np.float32)
