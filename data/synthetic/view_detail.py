"""The detail view: a worn corner of a panel with its edge stitching.

Shows the stitch cues (pitch and spacing) and the item's worst wear.
"""

from __future__ import annotations

import numpy as np

from data.synthetic.defects import defect
from data.synthetic.materials import leather, stitches
from data.synthetic.scene import Scene, blur, coverage
from data.synthetic.spec import ItemSpec
from data.synthetic.studio import Context, backdrop, new_scene


def render_detail(item: ItemSpec, rng: np.random.Generator, ctx: Context) -> Scene:
    size = ctx.size
    scene = new_scene(ctx)
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
