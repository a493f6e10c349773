"""The hardware view: one piece of metal hardware close up, on a leather panel.

Shows the hardware cues: plating tone, rough casting, engraving alignment and screw heads.
"""

from __future__ import annotations

import math

import numpy as np

from data.synthetic.defects import defect
from data.synthetic.hardware import hardware_shape
from data.synthetic.materials import engraving, leather, metal_piece, screw
from data.synthetic.scene import Scene, blur, coverage
from data.synthetic.spec import ItemSpec
from data.synthetic.studio import Context, new_scene

# Width over height of each hardware type's box; others are square.
ASPECT = {"zipper_pull": 0.75, "turnlock": 1.35, "buckle": 1.25, "padlock": 0.85, "d_ring": 1.2}


def render_hardware(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = new_scene(ctx)
    leather(scene, item, None, rng, zoom=rng.uniform(1.4, 2.0))
    # A panel seam behind the hardware (no stitching here: stitch cues belong to other views).
    y_seam = size * rng.uniform(0.08, 0.15)
    seam = coverage(
        size, lambda d, s: d.line([(0, y_seam * s), (size * s, y_seam * s)], fill=255, width=int(2 * s))
    )
    scene.paint(blur(seam, 1.0), add_height=-1.0)
    span = size * rng.uniform(0.55, 0.72)
    cx, cy = size / 2 + rng.normal(0, size * 0.04), size * 0.55 + rng.normal(0, size * 0.04)
    aspect = ASPECT.get(item.hardware_type, 1.0)
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
