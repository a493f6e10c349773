"""Lettering for stamps and engravings, set letter by letter with real fonts.

Each letter is placed by its font advance plus the style's tracking, with its own
baseline offset, so letter spacing and baseline drift are controlled exactly. Text is
drawn 2x supersampled; a weight change is a dilation or erosion at that scale.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from data.synthetic.scene import SUPERSAMPLE


@lru_cache(maxsize=1)
def font_dir() -> Path:
    """matplotlib ships DejaVu and STIX fonts: a pinned dependency, so every machine renders alike.

    Found without importing matplotlib (half a second we do not need).
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("matplotlib is not installed; the benchmark renders stamps with its fonts")
    return Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf"


@lru_cache(maxsize=256)
def font(name: str, pixels: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_dir() / name), pixels)


def text_mask(
    size: int,
    text: str,
    font_name: str,
    font_px: float,
    centre: tuple[float, float],
    tracking: float = 0.0,
    drift: float = 0.0,
    weight_px: int = 0,
    angle_deg: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A (size, size) float coverage mask of `text` centred at `centre` (pixels).

    tracking and drift are fractions of the font size: extra space after each letter,
    and the std of each letter's baseline offset (a random walk plus jitter).
    """
    s = SUPERSAMPLE
    px = max(6, round(font_px * s))
    face = font(font_name, px)
    advances = [face.getlength(ch) for ch in text]
    gap = tracking * px
    width = sum(advances) + gap * (len(text) - 1)
    ascent, descent = face.getmetrics()
    canvas_w = int(width + 4 * px)
    canvas_h = int(ascent + descent + 4 * px)
    layer = Image.new("L", (canvas_w, canvas_h), 0)
    draw = ImageDraw.Draw(layer)
    offsets = np.zeros(len(text))
    if drift > 0 and rng is not None:
        # A child stream: how many letters there are (a misspelling) must not shift the
        # caller's stream, or a counterfeit and its genuine twin would be framed differently.
        letters = rng.spawn(1)[0]
        walk = np.cumsum(letters.normal(0, drift * 0.6, len(text)))
        offsets = (walk - walk.mean() + letters.normal(0, drift * 0.8, len(text))) * px
    x: float = 2 * px
    for ch, advance, dy in zip(text, advances, offsets, strict=True):
        draw.text((x, 2 * px + dy), ch, font=face, fill=255)
        x += advance + gap
    if weight_px > 0:
        layer = layer.filter(ImageFilter.MaxFilter(2 * weight_px + 1))
    elif weight_px < 0:
        layer = layer.filter(ImageFilter.MinFilter(2 * -weight_px + 1))
    if angle_deg:
        layer = layer.rotate(angle_deg, resample=Image.Resampling.BILINEAR, expand=False)
    # Place the layer so the text's centre lands on `centre`, on the 2x grid of the scene,
    # then downsample only the part of the scene it covers.
    text_cx, text_cy = 2 * px + width / 2, 2 * px + (ascent + descent) / 2
    left = round(centre[0] * s - text_cx)
    top = round(centre[1] * s - text_cy)
    out = np.zeros((size, size), np.float32)
    x0, y0 = max(0, left // s), max(0, top // s)
    x1, y1 = min(size, -(-(left + canvas_w) // s)), min(size, -(-(top + canvas_h) // s))
    if x1 <= x0 or y1 <= y0:
        return out
    region = Image.new("L", ((x1 - x0) * s, (y1 - y0) * s), 0)
    region.paste(layer, (left - x0 * s, top - y0 * s))
    small = region.resize((x1 - x0, y1 - y0), Image.Resampling.BOX)
    out[y0:y1, x0:x1] = np.asarray(small, dtype=np.float32) / 255.0
    return out


def fit_font_px(text: str, font_name: str, max_width: float, max_px: float, tracking: float) -> float:
    """The largest font size (pixels) at which `text` fits in `max_width` at house tracking."""
    probe = font(font_name, 100)
    width_at_100 = sum(probe.getlength(ch) for ch in text) + tracking * 100 * (len(text) - 1)
    return float(min(max_px, max_width * 100 / max(width_at_100, 1)))
