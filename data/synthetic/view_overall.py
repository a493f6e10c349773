"""The overall view: the whole item on a backdrop with clutter.

Its shape follows the category (body, handles, flap); it shows seam stitching and a small
piece of hardware whose plating tone is visible even at this scale.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import ImageDraw

from data.synthetic.defects import defect
from data.synthetic.materials import leather, metal_piece, stitches
from data.synthetic.scene import Box, Draw, Scene, blur, blur_float, coverage
from data.synthetic.spec import ItemSpec
from data.synthetic.studio import Context, backdrop, new_scene

# Height over width of the body, by category.
BODY_ASPECT = {
    "tote": 0.8,
    "shoulder_bag": 0.7,
    "top_handle": 0.75,
    "clutch": 0.5,
    "wallet": 0.55,
    "card_holder": 0.65,
}
FLAP_CATEGORIES = ("shoulder_bag", "top_handle", "clutch")


class Body(NamedTuple):
    """The item's front: its box, centre x, width and height, and how much its top corners taper in."""

    box: Box
    cx: float
    w: float
    h: float
    taper: float


def render_overall(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = new_scene(ctx)
    lo, hi = ctx.clutter
    backdrop(scene, rng, clutter=int(rng.integers(lo, hi + 1)), ctx=ctx)
    scale = rng.uniform(0.55, 0.75) * (0.75 if item.category in ("wallet", "card_holder") else 1.0)
    cx, cy = size / 2 + rng.normal(0, size * 0.04), size * 0.56 + rng.normal(0, size * 0.03)
    w = size * scale
    h = w * BODY_ASPECT[item.category]
    taper = w * (0.08 if item.category in ("tote", "top_handle") else 0.0)
    body = Body((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), cx, w, h, taper)
    x0, y0, x1, y1 = body.box
    body_mask = coverage(size, _silhouette(item.category, body, size))
    scene.paint(blur(body_mask, size * 0.02) * 0.45, rgb=(0.05, 0.05, 0.05))  # soft shadow on the backdrop
    leather(scene, item, body_mask, rng, zoom=rng.uniform(0.8, 1.1))
    volume = blur_float(body_mask, size * 0.05)
    scene.height += volume * 6.0
    if item.category in FLAP_CATEGORIES:
        hw_centre = _flap(scene, item, body, rng)
    else:
        top_seam = [(x0 + taper + w * 0.04, y0 + h * 0.06), (x1 - taper - w * 0.04, y0 + h * 0.06)]
        stitches(scene, item, top_seam, rng, length_scale=0.7)
        hw_centre = (cx, y0 + h * 0.22)
    bottom_seam = [(x0 + w * 0.04, y1 - h * 0.05), (x1 - w * 0.04, y1 - h * 0.05)]
    stitches(scene, item, bottom_seam, rng, length_scale=0.7)
    shape = _hardware_tab(scene, item, hw_centre, w * 0.14, rng)
    for name in item.defects["overall"]:
        defect(scene, name, (body_mask > 0.9).astype(np.float32) * (1 - shape), rng, scale=0.6, metal=False)
    return scene


def _silhouette(category: str, body: Body, size: int) -> Draw:
    """The body outline with the category's handles or strap."""
    x0, y0, x1, y1 = body.box
    outline = [(x0 + body.taper, y0), (x1 - body.taper, y0), (x1, y1), (x0, y1)]

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        d.polygon([(x * s, y * s) for x, y in outline], fill=255)
        _handles(d, s, category, body, size)

    return draw


def _handles(d: ImageDraw.ImageDraw, s: float, category: str, body: Body, size: int) -> None:
    """Two handles (tote), one (top handle) or a strap running off the top (shoulder bag)."""
    x0, y0, x1, _ = body.box
    cx, w, h = body.cx, body.w, body.h
    t = max(2, int(size * 0.025 * s))
    if category == "tote":
        for off in (-0.2, 0.2):
            d.arc(
                [
                    (cx + off * w - w * 0.14) * s,
                    (y0 - h * 0.45) * s,
                    (cx + off * w + w * 0.14) * s,
                    (y0 + h * 0.3) * s,
                ],
                180,
                360,
                fill=255,
                width=t,
            )
    elif category == "top_handle":
        d.arc(
            [(cx - w * 0.25) * s, (y0 - h * 0.5) * s, (cx + w * 0.25) * s, (y0 + h * 0.3) * s],
            180,
            360,
            fill=255,
            width=int(t * 1.4),
        )
    elif category == "shoulder_bag":
        d.line([((x0 + w * 0.06) * s, y0 * s), ((cx - w * 0.1) * s, -size * 0.2 * s)], fill=255, width=t)
        d.line([((x1 - w * 0.06) * s, y0 * s), ((cx + w * 0.1) * s, -size * 0.2 * s)], fill=255, width=t)


def _flap(scene: Scene, item: ItemSpec, body: Body, rng: np.random.Generator) -> tuple[float, float]:
    """A front flap with a shadowed, stitched edge; returns where the hardware sits on it."""
    x0, y0, x1, _ = body.box
    cx, w, h, taper = body.cx, body.w, body.h, body.taper
    flap_bottom = y0 + h * (0.55 if item.category != "clutch" else 0.6)
    flap = [
        (x0 + taper * 0.4, y0),
        (x1 - taper * 0.4, y0),
        (x1 - w * 0.02, flap_bottom),
        (cx, flap_bottom + h * (0.12 if item.category == "clutch" else 0.04)),
        (x0 + w * 0.02, flap_bottom),
    ]
    flap_mask = coverage(scene.size, lambda d, s: d.polygon([(x * s, y * s) for x, y in flap], fill=255))
    flap_edge = np.clip(flap_mask - blur(flap_mask, 1.5), 0, 1)
    scene.paint(np.clip(blur(flap_mask, 2.5) - flap_mask, 0, 1) * 0.8, rgb=np.asarray(item.leather_rgb) * 0.4)
    scene.paint(flap_edge, add_height=1.0)
    seam = [(x + (cx - x) * 0.06, y + (flap_bottom - y) * 0.06 + 2) for x, y in flap[2:]]
    stitches(scene, item, seam, rng, length_scale=0.7)
    return (cx, flap_bottom - h * 0.02)


def _hardware_tab(
    scene: Scene, item: ItemSpec, centre: tuple[float, float], hw: float, rng: np.random.Generator
) -> np.ndarray:
    """A small plated tab of width 1.3 * `hw` at `centre`; returns its coverage."""
    hw_box = (centre[0] - hw * 0.65, centre[1] - hw * 0.45, centre[0] + hw * 0.65, centre[1] + hw * 0.45)
    shape = coverage(
        scene.size, lambda d, s: d.rounded_rectangle([v * s for v in hw_box], radius=hw * 0.2 * s, fill=255)
    )
    metal_piece(scene, shape, item.finish_rgb, rng, bevel=hw * 0.1)
    return shape
