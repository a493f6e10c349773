"""Materials painted into a scene: leather, stitching, plated metal, screws and engraving.

Counterfeit cues that live in the material itself are read off the item here: stitch
pitch and jitter, rough casting, Phillips screws and a misaligned engraving.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import ImageDraw

from data.synthetic.scene import Box, Scene, blur, blur_float, coverage
from data.synthetic.spec import ItemSpec
from data.synthetic.text import fit_font_px, text_mask


def leather(
    scene: Scene, item: ItemSpec, region: np.ndarray | None, rng: np.random.Generator, zoom: float
) -> None:
    """Grained leather of the item's colour, faded and creased with wear. `region` None = everywhere."""
    grain = scene.bank.crop(item.leather_kind, scene.size, rng, zoom)
    tone = scene.bank.crop("blotch", scene.size, rng, 1.0)
    rgb = np.asarray(item.leather_rgb, np.float32)
    variation = tone * 0.06
    variation += grain * 0.05
    variation += 1.0
    colour = variation[..., None] * rgb
    if item.wear > 0:
        fade = tone * (0.5 * item.wear * 0.18)
        fade += 0.5 * item.wear * 0.18
        np.clip(fade, 0, item.wear * 0.18, out=fade)
        colour *= (1 - fade)[..., None]
        colour += (fade * 0.6)[..., None]
    np.clip(colour, 0, 1, out=colour)
    height = grain * ((0.28 if item.leather_kind == "pebbled" else 0.4) * (1 + 0.5 * item.wear))
    gloss = 0.18 if item.leather_kind != "pebbled" else 0.1
    scene.paint(region, rgb=colour, height=height, gloss=gloss, metal=0.0)


def stitches(
    scene: Scene,
    item: ItemSpec,
    path: list[tuple[float, float]],
    rng: np.random.Generator,
    length_scale: float = 1.0,
) -> None:
    """Thread stitches along a polyline; pitch and jitter come from the item (stitch cues)."""
    size = scene.size
    pitch = item.stitch_pitch * size * length_scale
    stitch_len = pitch * 0.62
    points = np.asarray(path, np.float32)
    seg = np.diff(points, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    total = float(seg_len.sum())
    n = max(2, int(total / pitch))
    # A child stream: the stitch count (a cue) must not shift the caller's stream, so that a
    # counterfeit and its genuine twin stay framed alike and differ by the cue alone.
    jitter = rng.spawn(1)[0]
    positions = (np.arange(n) + 0.5) * pitch + jitter.normal(0, item.stitch_jitter * pitch, n)
    cumulative = np.concatenate([[0.0], np.cumsum(seg_len)])
    slant = math.radians(12) + jitter.normal(0, item.stitch_jitter * 0.9, n)
    width = max(1.0, pitch * 0.16)

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        for pos, tilt in zip(positions, slant, strict=True):
            if not 0 <= pos <= total:
                continue
            k = min(int(np.searchsorted(cumulative, pos, side="right")) - 1, len(seg) - 1)
            t = (pos - cumulative[k]) / max(seg_len[k], 1e-6)
            cx, cy = points[k] + seg[k] * t
            angle = math.atan2(seg[k][1], seg[k][0]) + tilt
            dx, dy = math.cos(angle) * stitch_len / 2, math.sin(angle) * stitch_len / 2
            d.line(
                [((cx - dx) * s, (cy - dy) * s), ((cx + dx) * s, (cy + dy) * s)],
                fill=255,
                width=max(1, round(width * s)),
            )

    mask = coverage(size, draw)
    holes = blur(mask, 0.8) * 0.25
    scene.paint(holes, rgb=np.asarray(item.leather_rgb) * 0.45)
    scene.paint(mask, rgb=item.thread_rgb, add_height=0.35, gloss=0.25)


def metal_piece(
    scene: Scene,
    shape: np.ndarray,
    finish_rgb: tuple[float, float, float] | np.ndarray,
    rng: np.random.Generator,
    bevel: float,
    roughness: float = 0.0,
) -> np.ndarray:
    """Plated metal inside `shape`; `roughness` (the rough-casting cue) frays the outline."""
    # The fraying noise (the cue) comes from a child stream, spawned with or without the cue so
    # that `rng`'s later draws and child streams line up with the genuine twin's.
    fraying = rng.spawn(1)[0]
    if roughness > 0:
        noise = scene.bank.crop("white", scene.size, fraying, 1.0)
        noise = blur_float(noise, 0.7)
        noise /= np.abs(noise).max() + 1e-6
        soft = blur(shape, roughness * 0.6)
        shape = np.clip((soft - 0.5 + noise * 0.32) * 4 + 0.5, 0, 1)
        shape = blur(shape, 0.4)
    dome = blur_float(shape, bevel)
    finish = np.asarray(finish_rgb, np.float32)
    brushed = scene.bank.crop("white", scene.size, rng, 0.5)
    colour = np.clip(finish[None, None, :] * (1 + 0.03 * brushed[..., None]), 0, 1)
    scene.paint(blur(shape, 1.2) * 0.5, rgb=(0.02, 0.02, 0.02))  # contact shadow
    scene.paint(shape, rgb=colour, height=dome * 3.0, gloss=0.9, metal=1.0)
    return shape


def screw(scene: Scene, item: ItemSpec, cx: float, cy: float, r: float) -> None:
    """A screw head: flat slot (house) or Phillips cross (counterfeit cue)."""
    size = scene.size
    head = coverage(
        size, lambda d, s: d.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=255)
    )
    dome = blur_float(head, r * 0.4)
    scene.paint(head, rgb=np.asarray(item.finish_rgb) * 0.92, height=dome * 3.0 + 1.5, gloss=0.9, metal=1.0)
    w = max(1.0, r * 0.28)

    def slot(d: ImageDraw.ImageDraw, s: float) -> None:
        d.line([((cx - r * 0.8) * s, cy * s), ((cx + r * 0.8) * s, cy * s)], fill=255, width=int(w * s))
        if item.phillips_screws:
            d.line([(cx * s, (cy - r * 0.8) * s), (cx * s, (cy + r * 0.8) * s)], fill=255, width=int(w * s))

    groove = coverage(size, slot)
    scene.paint(groove, rgb=np.asarray(item.finish_rgb) * 0.35, add_height=-1.2)


def engraving(scene: Scene, item: ItemSpec, box: Box, text: str, rng: np.random.Generator) -> None:
    """The brand engraved on a hardware plate; misalignment (cue) shifts and rotates it."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    font_name = item.brand.font
    px = fit_font_px(text, font_name, w * 0.8, h * 0.5, item.brand.tracking)
    dx, dy = item.engraving_offset
    centre = ((x0 + x1) / 2 + dx * w, (y0 + y1) / 2 + dy * h * 2)
    mask = text_mask(
        scene.size,
        text,
        font_name,
        px,
        centre,
        tracking=item.brand.tracking,
        angle_deg=item.engraving_rotation,
        rng=rng,
    )
    scene.paint(mask, rgb=np.asarray(item.finish_rgb) * 0.55, add_height=-0.9, gloss=0.3)
