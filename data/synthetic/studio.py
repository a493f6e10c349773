"""The studio every view is shot in: what a renderer is given, a fresh scene, the backdrop."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from data.synthetic.scene import Draw, Scene, coverage
from data.synthetic.textures import TextureBank

BACKDROP_RGB = (
    (0.92, 0.91, 0.89),
    (0.85, 0.84, 0.82),
    (0.7, 0.66, 0.6),
    (0.55, 0.58, 0.6),
    (0.35, 0.3, 0.27),
)


@dataclass
class Context:
    """What every renderer needs besides the item: canvas size, textures, defect channels, clutter."""

    size: int
    bank: TextureBank
    defect_index: dict[str, int]
    clutter: tuple[int, int] = (0, 3)


def new_scene(ctx: Context) -> Scene:
    return Scene(ctx.size, ctx.defect_index, ctx.bank)


def backdrop(scene: Scene, rng: np.random.Generator, clutter: int, ctx: Context) -> None:
    """A studio sweep or a tabletop, with `clutter` out-of-focus objects behind the item."""
    size = scene.size
    base = np.asarray(rng.choice(BACKDROP_RGB), np.float32) * rng.uniform(0.9, 1.05)
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
        shape = _clutter_shape(x, y, r, kind=int(rng.integers(3)))
        scene.paint(coverage(size, shape, blur=rng.uniform(1.0, 3.0)), rgb=colour, height=0.0, gloss=0.1)


def _clutter_shape(x: float, y: float, r: float, kind: int) -> Draw:
    """A background object around (x, y): a ball, a box or a cone."""

    def shape(d: ImageDraw.ImageDraw, s: float) -> None:
        if kind == 0:
            d.ellipse([(x - r) * s, (y - r) * s, (x + r) * s, (y + r) * s], fill=255)
        elif kind == 1:
            d.rectangle([(x - r) * s, (y - r * 1.6) * s, (x + r * 0.6) * s, (y + r) * s], fill=255)
        else:
            d.polygon(
                [((x - r) * s, (y + r) * s), (x * s, (y - r * 1.5) * s), ((x + r) * s, (y + r) * s)],
                fill=255,
            )

    return shape
