"""The stamp view: the brand stamp close up, pressed into leather or set on a serial plate.

Shows the stamp cues: font weight, letter spacing, baseline drift, spelling and depth.
"""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from data.synthetic.defects import defect
from data.synthetic.materials import leather, metal_piece
from data.synthetic.scene import Scene, blur, coverage
from data.synthetic.spec import FINISH_RGB, ItemSpec
from data.synthetic.studio import Context, new_scene
from data.synthetic.text import fit_font_px, text_mask


def render_stamp(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = new_scene(ctx)
    leather(scene, item, None, rng, zoom=rng.uniform(1.5, 2.2))
    area_w = size * rng.uniform(0.62, 0.78)
    top = size * rng.uniform(0.3, 0.42)
    cx = size / 2 + rng.normal(0, size * 0.03)
    region = np.ones((size, size), np.float32)
    if item.stamp_type == "serial_plate":
        region = _serial_plate(scene, item, cx, top, area_w, rng)
    lettering = _lettering(size, item, _font_sizes(size, item, area_w), (cx, top), rng)
    soft = _press(scene, item, lettering)
    for name in item.defects["stamp"]:
        defect(
            scene,
            name,
            region if item.stamp_type == "serial_plate" else 1 - soft,
            rng,
            scale=0.5,
            metal=item.stamp_type == "serial_plate",
        )
    return scene


def _font_sizes(size: int, item: ItemSpec, area_w: float) -> list[float]:
    """Font size of each stamp line: the brand line large, the others smaller."""
    brand = item.brand
    # Size fonts from the genuine text at the house tracking, so spacing and spelling cues show.
    sizes = [
        fit_font_px(
            line,
            brand.font,
            area_w * (1.0 if i == 0 else 0.7),
            size * (0.1 if i == 0 else 0.06),
            brand.tracking,
        )
        for i, line in enumerate(item.stamp.lines)
    ]
    if item.stamp_type == "date_code":
        sizes = [s * 0.8 for s in sizes]
    return sizes


def _serial_plate(
    scene: Scene, item: ItemSpec, cx: float, top: float, area_w: float, rng: np.random.Generator
) -> np.ndarray:
    """A riveted metal plate for the serial number; returns its coverage."""
    size = scene.size
    plate_box = (cx - area_w * 0.58, top - size * 0.1, cx + area_w * 0.58, top + size * 0.28)
    region = coverage(
        size,
        lambda d, s: d.rounded_rectangle([v * s for v in plate_box], radius=size * 0.02 * s, fill=255),
    )
    # The plate is a separate part in the house finish: hardware cues do not show here.
    plate_rgb = np.asarray(FINISH_RGB[item.hardware_finish])
    metal_piece(scene, region, plate_rgb, rng, bevel=size * 0.01)
    for rx in (plate_box[0] + size * 0.035, plate_box[2] - size * 0.035):
        rivet = _disc(size, rx, top + size * 0.09, size * 0.015)
        scene.paint(rivet, add_height=1.5, rgb=plate_rgb * 0.95)
    return region


def _disc(size: int, cx: float, cy: float, r: float) -> np.ndarray:
    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        d.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=255)

    return coverage(size, draw)


def _lettering(
    size: int, item: ItemSpec, sizes: list[float], start: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Coverage of all stamp lines, set in the item's stamp style from `start` (first line's centre) down."""
    style = item.stamp
    cx, y = start
    total = np.zeros((size, size), np.float32)
    for line, px in zip(style.lines, sizes, strict=True):
        mask = text_mask(
            size,
            line,
            item.brand.font,
            px,
            (cx, y),
            tracking=style.tracking,
            drift=style.drift,
            weight_px=style.weight_px,
            rng=rng,
        )
        total = np.maximum(total, mask)
        y += px * 1.55
    return total


def _press(scene: Scene, item: ItemSpec, lettering: np.ndarray) -> np.ndarray:
    """Press the lettering in as the stamp type does it; returns the softened lettering."""
    depth = item.stamp.depth
    soft = blur(lettering, 0.6)
    if item.stamp_type == "embossed_logo":
        scene.paint(soft, add_height=1.6 * depth)
    elif item.stamp_type == "foil_stamp":
        foil = np.asarray(FINISH_RGB["gold" if item.hardware_finish in ("gold", "rose_gold") else "silver"])
        scene.paint(soft, add_height=-1.0 * depth)
        scene.paint(lettering * min(1.0, 0.35 + 0.65 * depth), rgb=foil, gloss=0.8, metal=0.9)
    elif item.stamp_type == "serial_plate":
        scene.paint(soft, add_height=-1.2 * depth)
        scene.paint(
            lettering * min(1.0, 0.7 * depth),
            rgb=np.asarray(FINISH_RGB[item.hardware_finish]) * 0.4,
            gloss=0.2,
        )
    else:  # heat_stamp, date_code: debossed and darkened by heat
        scene.paint(soft, add_height=-1.8 * depth)
        burn = np.clip(np.asarray(scene.albedo) * (1 - 0.45 * min(1.0, depth)), 0, 1)
        scene.paint(lettering * min(1.0, 0.9 * depth), rgb=burn)
    return soft
