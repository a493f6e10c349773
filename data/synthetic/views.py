"""The four views of an item, each rendered as a lit Scene.

overall: the whole item on a backdrop with clutter; hardware: one piece of metal
hardware close up; stamp: the brand stamp close up; detail: a worn edge with stitching.
Which counterfeit cues each view shows follows the taxonomy's `visible_in`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from data.synthetic.scene import Scene, blur, blur_float, coverage
from data.synthetic.spec import FINISH_RGB, ItemSpec
from data.synthetic.text import fit_font_px, text_mask
from data.synthetic.textures import TextureBank

Box = tuple[float, float, float, float]


@dataclass
class Context:
    """What every renderer needs besides the item: canvas size, textures, defect channels, clutter."""

    size: int
    bank: TextureBank
    defect_index: dict[str, int]
    clutter: tuple[int, int] = (0, 3)


# -- materials ---------------------------------------------------------------------
def leather(scene: Scene, item: ItemSpec, region: np.ndarray, rng: np.random.Generator, zoom: float) -> None:
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
    positions = (np.arange(n) + 0.5) * pitch + rng.normal(0, item.stitch_jitter * pitch, n)
    cumulative = np.concatenate([[0.0], np.cumsum(seg_len)])
    slant = math.radians(12) + rng.normal(0, item.stitch_jitter * 0.9, n)
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
    if roughness > 0:
        noise = scene.bank.crop("white", scene.size, rng, 1.0)
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


def defect(
    scene: Scene, name: str, region: np.ndarray, rng: np.random.Generator, scale: float, metal: bool
) -> None:
    """Draw one defect inside `region` and record its mask channel."""
    size = scene.size
    ys, xs = np.nonzero(region > 0.5)
    if len(xs) == 0:
        return
    i = int(rng.integers(len(xs)))
    cx, cy = float(xs[i]), float(ys[i])
    base = scene.albedo
    if name in ("scratch", "tear"):
        n = 1 if name == "tear" else int(rng.integers(1, 4))
        length = size * scale * rng.uniform(0.15, 0.35)
        angle = rng.uniform(0, math.pi)
        pts_all = []
        for _ in range(n):
            ox, oy = rng.normal(0, length * 0.12, 2)
            steps = 8
            pts = []
            for k in range(steps + 1):
                t = k / steps - 0.5
                jag = rng.normal(0, length * (0.05 if name == "tear" else 0.015))
                pts.append(
                    (
                        cx + ox + math.cos(angle) * t * length - math.sin(angle) * jag,
                        cy + oy + math.sin(angle) * t * length + math.cos(angle) * jag,
                    )
                )
            pts_all.append(pts)
        width = (rng.uniform(2.0, 3.5) if name == "tear" else rng.uniform(0.7, 1.3)) * size / 256
        mask = coverage(
            size,
            lambda d, s: [
                d.line([(x * s, y * s) for x, y in p], fill=255, width=max(1, int(width * s)))
                for p in pts_all
            ],
        )
        mask *= region
        if name == "scratch":
            light = base * 0.4 + (0.55 if not metal else 0.9) * 0.6
            scene.paint(mask, rgb=light, add_height=-0.4, gloss=0.05 if not metal else 1.0)
        else:
            edge = blur(mask, 1.2) * region
            scene.paint(edge, add_height=0.8)
            scene.paint(mask, rgb=(0.03, 0.02, 0.02), add_height=-2.5, gloss=0.0)
        scene.mark_defect(name, mask)
        return
    radius = size * scale * rng.uniform(0.06, 0.14)
    blob_noise = scene.bank.crop("blotch", size, rng, 1.0)
    yy, xx = np.ogrid[:size, :size]
    dist = np.sqrt(((xx - cx) / radius) ** 2 + ((yy - cy) / (radius * rng.uniform(0.6, 1.4))) ** 2)
    blob = np.clip((1.0 - dist + 0.45 * blob_noise) * 3.0, 0, 1).astype(np.float32) * region
    if name == "scuff":
        rough = scene.bank.crop("white", size, rng, 1.0)
        scene.paint(blob, rgb=np.clip(base * 0.55 + 0.35, 0, 1), gloss=0.0)
        scene.paint(blob, add_height=rough * 0.5)
    elif name == "stain":
        ring = np.clip(blob - blur(blob, 2.0) * 0.7, 0, 1)
        tint = np.asarray(rng.choice([(0.25, 0.2, 0.1), (0.1, 0.1, 0.15), (0.35, 0.3, 0.15)]), np.float32)
        scene.paint(blob * 0.55, rgb=base * 0.55 + tint * 0.2)
        scene.paint(ring * 0.5, rgb=base * 0.4)
    elif name == "tarnish":
        tint = np.asarray((0.22, 0.2, 0.14) if rng.random() < 0.7 else (0.2, 0.3, 0.25), np.float32)
        scene.paint(blob * 0.85, rgb=tint, gloss=0.1, metal=0.3)
    scene.mark_defect(name, blob)


# -- hardware shapes ------------------------------------------------------------------
def hardware_shape(kind: str, size: int, box: Box) -> tuple[np.ndarray, Box, list[tuple[float, float]]]:
    """Coverage of a hardware piece in `box`, the plate area for engraving, and screw positions."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    screws: list[tuple[float, float]] = []
    plate: Box = box

    def rr(d: ImageDraw.ImageDraw, s: float, b: Box, r: float, fill: int = 255) -> None:
        d.rounded_rectangle([b[0] * s, b[1] * s, b[2] * s, b[3] * s], radius=r * s, fill=fill)

    if kind == "zipper_pull":
        tab: Box = (cx - w * 0.22, y0 + h * 0.25, cx + w * 0.22, y1)
        plate = (tab[0], tab[1] + h * 0.2, tab[2], tab[3] - h * 0.05)

        def draw(d, s):
            rr(d, s, (cx - w * 0.16, y0, cx + w * 0.16, y0 + h * 0.3), w * 0.05)
            rr(d, s, tab, w * 0.12)
            d.ellipse(
                [(cx - w * 0.07) * s, (tab[1] + h * 0.04) * s, (cx + w * 0.07) * s, (tab[1] + h * 0.14) * s],
                fill=0,
            )
    elif kind == "turnlock":
        plate = (x0, y0 + h * 0.15, x1, y1 - h * 0.15)
        screws = [
            (x0 + w * 0.08, plate[1] + h * 0.1),
            (x1 - w * 0.08, plate[1] + h * 0.1),
            (x0 + w * 0.08, plate[3] - h * 0.1),
            (x1 - w * 0.08, plate[3] - h * 0.1),
        ]

        def draw(d, s):
            rr(d, s, plate, h * 0.12)
            d.ellipse(
                [(cx - w * 0.16) * s, (cy - h * 0.3) * s, (cx + w * 0.16) * s, (cy + h * 0.3) * s], fill=255
            )

        plate = (x0 + w * 0.12, plate[1] + h * 0.02, x1 - w * 0.12, plate[1] + h * 0.2)
    elif kind == "buckle":
        t = min(w, h) * 0.16
        plate = (x0 + t * 1.3, y0, x1 - t * 1.3, y0 + t)
        screws = [(x0 + t / 2, cy), (x1 - t / 2, cy)]

        def draw(d, s):
            rr(d, s, box, t)
            rr(d, s, (x0 + t, y0 + t, x1 - t, y1 - t), t * 0.4, fill=0)
            d.rectangle([(cx - t * 0.3) * s, (y0 + t) * s, (cx + t * 0.3) * s, (y1 - t * 0.6) * s], fill=255)
    elif kind == "padlock":
        body: Box = (x0 + w * 0.1, y0 + h * 0.38, x1 - w * 0.1, y1)
        plate = (body[0], body[1] + h * 0.05, body[2], body[1] + h * 0.3)

        def draw(d, s):
            sw = w * 0.12
            d.arc(
                [(x0 + w * 0.22) * s, y0 * s, (x1 - w * 0.22) * s, (y0 + h * 0.75) * s],
                180,
                360,
                fill=255,
                width=int(sw * s),
            )
            d.rectangle(
                [(x0 + w * 0.22) * s, (y0 + h * 0.37) * s, (x0 + w * 0.22 + sw) * s, (y0 + h * 0.45) * s],
                fill=255,
            )
            d.rectangle(
                [(x1 - w * 0.22 - sw) * s, (y0 + h * 0.37) * s, (x1 - w * 0.22) * s, (y0 + h * 0.45) * s],
                fill=255,
            )
            rr(d, s, body, w * 0.1)
            d.ellipse(
                [
                    (cx - w * 0.05) * s,
                    (body[3] - h * 0.24) * s,
                    (cx + w * 0.05) * s,
                    (body[3] - h * 0.14) * s,
                ],
                fill=0,
            )
            d.rectangle(
                [
                    (cx - w * 0.02) * s,
                    (body[3] - h * 0.17) * s,
                    (cx + w * 0.02) * s,
                    (body[3] - h * 0.08) * s,
                ],
                fill=0,
            )
    elif kind == "d_ring":
        t = min(w, h) * 0.13
        plate = (x0 + w * 0.2, y1 - h * 0.3, x1 - w * 0.2, y1 - h * 0.05)
        screws = [(x0 + w * 0.12, y1 - h * 0.17), (x1 - w * 0.12, y1 - h * 0.17)]

        def draw(d, s):
            d.chord([x0 * s, (y0 - h * 0.3) * s, x1 * s, (y1 - h * 0.3) * s], 0, 180, fill=255)
            d.chord(
                [(x0 + t) * s, (y0 - h * 0.3 + t) * s, (x1 - t) * s, (y1 - h * 0.3 - t) * s], 0, 180, fill=0
            )
            d.rectangle([x0 * s, (y0 + h * 0.2 - t) * s, x1 * s, (y0 + h * 0.2) * s], fill=255)
            rr(d, s, (x0, y1 - h * 0.32, x1, y1), h * 0.06)
    else:  # snap_button
        r = min(w, h) / 2
        plate = (cx - r * 0.75, cy + r * 0.2, cx + r * 0.75, cy + r * 0.65)

        def draw(d, s):
            d.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=255)

    return coverage(size, draw), plate, screws


# -- views ----------------------------------------------------------------------------
def render_hardware(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = _new_scene(ctx)
    leather(scene, item, None, rng, zoom=rng.uniform(1.4, 2.0))
    # A panel seam behind the hardware (no stitching here: stitch cues belong to other views).
    y_seam = size * rng.uniform(0.08, 0.15)
    seam = coverage(
        size, lambda d, s: d.line([(0, y_seam * s), (size * s, y_seam * s)], fill=255, width=int(2 * s))
    )
    scene.paint(blur(seam, 1.0), add_height=-1.0)
    span = size * rng.uniform(0.55, 0.72)
    cx, cy = size / 2 + rng.normal(0, size * 0.04), size * 0.55 + rng.normal(0, size * 0.04)
    aspect = {"zipper_pull": 0.75, "turnlock": 1.35, "buckle": 1.25, "padlock": 0.85, "d_ring": 1.2}.get(
        item.hardware_type, 1.0
    )
    w, h = span * math.sqrt(aspect), span / math.sqrt(aspect)
    box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    shape, plate, screws = hardware_shape(item.hardware_type, size, box)
    piece = metal_piece(scene, shape, item.finish_rgb, rng, bevel=span * 0.05, roughness=item.edge_roughness)
    engraving(
        scene,
        item,
        plate,
        item.brand.name.split()[0] if item.hardware_type != "turnlock" else item.brand.name,
        rng,
    )
    for sx, sy in screws:
        screw(scene, item, sx, sy, r=span * 0.045)
    for name in item.defects["hardware"]:
        defect(scene, name, piece, rng, scale=0.5, metal=True)
    return scene


def render_stamp(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = _new_scene(ctx)
    leather(scene, item, None, rng, zoom=rng.uniform(1.5, 2.2))
    style, brand = item.stamp, item.brand
    lines = style.lines
    area_w = size * rng.uniform(0.62, 0.78)
    top = size * rng.uniform(0.3, 0.42)
    cx = size / 2 + rng.normal(0, size * 0.03)
    # Size fonts from the genuine text at the house tracking, so spacing and spelling cues show.
    sizes = [
        fit_font_px(
            line,
            brand.font,
            area_w * (1.0 if i == 0 else 0.7),
            size * (0.1 if i == 0 else 0.06),
            brand.tracking,
        )
        for i, line in enumerate(lines)
    ]
    if item.stamp_type == "date_code":
        sizes = [s * 0.8 for s in sizes]
    region = np.ones((size, size), np.float32)
    if item.stamp_type == "serial_plate":
        plate_box = (cx - area_w * 0.58, top - size * 0.1, cx + area_w * 0.58, top + size * 0.28)
        region = coverage(
            size,
            lambda d, s: d.rounded_rectangle([v * s for v in plate_box], radius=size * 0.02 * s, fill=255),
        )
        # The plate is a separate part in the house finish: hardware cues do not show here.
        plate_rgb = np.asarray(FINISH_RGB[item.hardware_finish])
        metal_piece(scene, region, plate_rgb, rng, bevel=size * 0.01)
        for rx in (plate_box[0] + size * 0.035, plate_box[2] - size * 0.035):
            rivet = coverage(
                size,
                lambda d, s, rx=rx: d.ellipse(
                    [
                        (rx - size * 0.015) * s,
                        (top + size * 0.09 - size * 0.015) * s,
                        (rx + size * 0.015) * s,
                        (top + size * 0.09 + size * 0.015) * s,
                    ],
                    fill=255,
                ),
            )
            scene.paint(rivet, add_height=1.5, rgb=plate_rgb * 0.95)
    y = top
    mask_total = np.zeros((size, size), np.float32)
    for line, px in zip(lines, sizes, strict=True):
        mask = text_mask(
            size,
            line,
            brand.font,
            px,
            (cx, y),
            tracking=style.tracking,
            drift=style.drift,
            weight_px=style.weight_px,
            rng=rng,
        )
        mask_total = np.maximum(mask_total, mask)
        y += px * 1.55
    depth = style.depth
    soft = blur(mask_total, 0.6)
    if item.stamp_type == "embossed_logo":
        scene.paint(soft, add_height=1.6 * depth)
    elif item.stamp_type == "foil_stamp":
        foil = np.asarray(FINISH_RGB["gold" if item.hardware_finish in ("gold", "rose_gold") else "silver"])
        scene.paint(soft, add_height=-1.0 * depth)
        scene.paint(mask_total * min(1.0, 0.35 + 0.65 * depth), rgb=foil, gloss=0.8, metal=0.9)
    elif item.stamp_type == "serial_plate":
        scene.paint(soft, add_height=-1.2 * depth)
        scene.paint(
            mask_total * min(1.0, 0.7 * depth),
            rgb=np.asarray(FINISH_RGB[item.hardware_finish]) * 0.4,
            gloss=0.2,
        )
    else:  # heat_stamp, date_code: debossed and darkened by heat
        scene.paint(soft, add_height=-1.8 * depth)
        burn = np.clip(np.asarray(scene.albedo) * (1 - 0.45 * min(1.0, depth)), 0, 1)
        scene.paint(mask_total * min(1.0, 0.9 * depth), rgb=burn)
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


def render_detail(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = _new_scene(ctx)
    backdrop(scene, rng, clutter=0, ctx=ctx)
    # A corner of a panel: edge along the top and the left, at random offsets and tilt.
    ex, ey = size * rng.uniform(0.08, 0.2), size * rng.uniform(0.08, 0.2)
    tilt = rng.normal(0, 0.05)
    r = size * rng.uniform(0.05, 0.15)
    corner = [
        (ex, ey + size * 1.2 * tilt),
        (size * 1.3, ey - size * tilt),
        (size * 1.3, size * 1.3),
        (ex + size * tilt, size * 1.3),
    ]
    panel = coverage(size, lambda d, s: d.polygon([(x * s, y * s) for x, y in corner], fill=255))
    rounded = blur(panel, r * 0.25)
    panel = np.clip((rounded - 0.5) * 3 + 0.5, 0, 1)
    leather(scene, item, panel, rng, zoom=rng.uniform(1.2, 1.7))
    edge = np.clip(panel - blur(panel, size * 0.012), 0, 1) * 2.2
    scene.paint(np.clip(edge, 0, 1), rgb=np.asarray(item.leather_rgb) * 0.7, add_height=0.6, gloss=0.4)
    inset = size * 0.075
    path = [
        (ex + inset + size * tilt, size * 1.05),
        (ex + inset, ey + inset + r * 0.3),
        (ex + inset + r * 0.3, ey + inset),
        (size * 1.05, ey + inset - size * tilt),
    ]
    stitches(scene, item, path, rng, length_scale=1.8)
    wear_zone = panel * np.clip(1.4 - np.hypot(*np.ogrid[:size, :size][::-1]) / (size * 0.9), 0, 1)
    for name in item.defects["detail"]:
        defect(scene, name, (wear_zone > 0.2).astype(np.float32), rng, scale=0.8, metal=False)
    return scene


def render_overall(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = _new_scene(ctx)
    lo, hi = ctx.clutter
    backdrop(scene, rng, clutter=int(rng.integers(lo, hi + 1)), ctx=ctx)
    scale = rng.uniform(0.55, 0.75) * (0.75 if item.category in ("wallet", "card_holder") else 1.0)
    cx, cy = size / 2 + rng.normal(0, size * 0.04), size * 0.56 + rng.normal(0, size * 0.03)
    w = size * scale
    h = (
        w
        * {
            "tote": 0.8,
            "shoulder_bag": 0.7,
            "top_handle": 0.75,
            "clutch": 0.5,
            "wallet": 0.55,
            "card_holder": 0.65,
        }[item.category]
    )
    body: Box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
    taper = w * (0.08 if item.category in ("tote", "top_handle") else 0.0)
    outline = [(body[0] + taper, body[1]), (body[2] - taper, body[1]), (body[2], body[3]), (body[0], body[3])]

    def handles(d: ImageDraw.ImageDraw, s: float) -> None:
        t = max(2, int(size * 0.025 * s))
        if item.category == "tote":
            for off in (-0.2, 0.2):
                d.arc(
                    [
                        (cx + off * w - w * 0.14) * s,
                        (body[1] - h * 0.45) * s,
                        (cx + off * w + w * 0.14) * s,
                        (body[1] + h * 0.3) * s,
                    ],
                    180,
                    360,
                    fill=255,
                    width=t,
                )
        elif item.category == "top_handle":
            d.arc(
                [(cx - w * 0.25) * s, (body[1] - h * 0.5) * s, (cx + w * 0.25) * s, (body[1] + h * 0.3) * s],
                180,
                360,
                fill=255,
                width=int(t * 1.4),
            )
        elif item.category == "shoulder_bag":
            d.line(
                [((body[0] + w * 0.06) * s, body[1] * s), ((cx - w * 0.1) * s, -size * 0.2 * s)],
                fill=255,
                width=t,
            )
            d.line(
                [((body[2] - w * 0.06) * s, body[1] * s), ((cx + w * 0.1) * s, -size * 0.2 * s)],
                fill=255,
                width=t,
            )

    body_mask = coverage(
        size, lambda d, s: (d.polygon([(x * s, y * s) for x, y in outline], fill=255), handles(d, s))
    )
    scene.paint(blur(body_mask, size * 0.02) * 0.45, rgb=(0.05, 0.05, 0.05))  # soft shadow on the backdrop
    leather(scene, item, body_mask, rng, zoom=rng.uniform(0.8, 1.1))
    volume = blur_float(body_mask, size * 0.05)
    scene.height += volume * 6.0
    has_flap = item.category in ("shoulder_bag", "top_handle", "clutch")
    if has_flap:
        flap_bottom = body[1] + h * (0.55 if item.category != "clutch" else 0.6)
        flap = [
            (body[0] + taper * 0.4, body[1]),
            (body[2] - taper * 0.4, body[1]),
            (body[2] - w * 0.02, flap_bottom),
            (cx, flap_bottom + h * (0.12 if item.category == "clutch" else 0.04)),
            (body[0] + w * 0.02, flap_bottom),
        ]
        flap_mask = coverage(size, lambda d, s: d.polygon([(x * s, y * s) for x, y in flap], fill=255))
        flap_edge = np.clip(flap_mask - blur(flap_mask, 1.5), 0, 1)
        scene.paint(
            np.clip(blur(flap_mask, 2.5) - flap_mask, 0, 1) * 0.8, rgb=np.asarray(item.leather_rgb) * 0.4
        )
        scene.paint(flap_edge, add_height=1.0)
        stitches(
            scene,
            item,
            [(x + (cx - x) * 0.06, y + (flap_bottom - y) * 0.06 + 2) for x, y in flap[2:]],
            rng,
            length_scale=0.7,
        )
        hw_centre = (cx, flap_bottom - h * 0.02)
    else:
        stitches(
            scene,
            item,
            [
                (body[0] + taper + w * 0.04, body[1] + h * 0.06),
                (body[2] - taper - w * 0.04, body[1] + h * 0.06),
            ],
            rng,
            length_scale=0.7,
        )
        hw_centre = (cx, body[1] + h * 0.22)
    stitches(
        scene,
        item,
        [(body[0] + w * 0.04, body[3] - h * 0.05), (body[2] - w * 0.04, body[3] - h * 0.05)],
        rng,
        length_scale=0.7,
    )
    # A small piece of the item's hardware: its plating tone is visible even at this scale.
    hw = w * 0.14
    hw_box = (
        hw_centre[0] - hw * 0.65,
        hw_centre[1] - hw * 0.45,
        hw_centre[0] + hw * 0.65,
        hw_centre[1] + hw * 0.45,
    )
    shape = coverage(
        size, lambda d, s: d.rounded_rectangle([v * s for v in hw_box], radius=hw * 0.2 * s, fill=255)
    )
    metal_piece(scene, shape, item.finish_rgb, rng, bevel=hw * 0.1)
    for name in item.defects["overall"]:
        defect(scene, name, (body_mask > 0.9).astype(np.float32) * (1 - shape), rng, scale=0.6, metal=False)
    return scene


RENDERERS = {
    "overall": render_overall,
    "hardware": render_hardware,
    "stamp": render_stamp,
    "detail": render_detail,
}


# -- helpers ----------------------------------------------------------------------------
def _new_scene(ctx: Context) -> Scene:
    return Scene(ctx.size, ctx.defect_index, ctx.bank)


def backdrop(scene: Scene, rng: np.random.Generator, clutter: int, ctx: Context) -> None:
    """A studio sweep or a tabletop, with out-of-focus objects behind the item."""
    size = scene.size
    base = np.asarray(
        rng.choice(
            [(0.92, 0.91, 0.89), (0.85, 0.84, 0.82), (0.7, 0.66, 0.6), (0.55, 0.58, 0.6), (0.35, 0.3, 0.27)]
        ),
        np.float32,
    ) * rng.uniform(0.9, 1.05)
    yy = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    gradient = base * (0.9 + 0.15 * yy) * np.ones((1, size, 1), np.float32)
    texture = ctx.bank.crop("smooth", size, rng, 0.6)
    scene.paint(
        None,
        rgb=np.clip(gradient, 0, 1),
        height=texture * 0.3,
        gloss=0.05,
        metal=0.0,
    )
    if rng.random() < 0.5:  # table edge
        horizon = size * rng.uniform(0.15, 0.4)
        table = coverage(size, lambda d, s: d.rectangle([0, horizon * s, size * s, size * s], fill=255))
        scene.paint(table, rgb=np.clip(base * rng.uniform(0.75, 1.2), 0, 1))
    for _ in range(clutter):
        colour = rng.uniform(0.15, 0.9, 3)
        x, y = rng.uniform(-0.1, 1.1) * size, rng.uniform(-0.1, 0.5) * size
        r = size * rng.uniform(0.05, 0.18)
        kind = int(rng.integers(3))

        def shape(d: ImageDraw.ImageDraw, s: float, x=x, y=y, r=r, kind=kind) -> None:
            if kind == 0:
                d.ellipse([(x - r) * s, (y - r) * s, (x + r) * s, (y + r) * s], fill=255)
            elif kind == 1:
                d.rectangle([(x - r) * s, (y - r * 1.6) * s, (x + r * 0.6) * s, (y + r) * s], fill=255)
            else:
                d.polygon(
                    [((x - r) * s, (y + r) * s), (x * s, (y - r * 1.5) * s), ((x + r) * s, (y + r) * s)],
                    fill=255,
                )

        scene.paint(coverage(size, shape, blur=rng.uniform(1.0, 3.0)), rgb=colour, height=0.0, gloss=0.1)
