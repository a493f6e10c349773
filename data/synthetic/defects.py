"""Condition defects: scratches, tears, scuffs, stains and tarnish, each recorded in its mask channel."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import ImageDraw

from data.synthetic.scene import Scene, blur, coverage

STAIN_TINTS = [(0.25, 0.2, 0.1), (0.1, 0.1, 0.15), (0.35, 0.3, 0.15)]


class Spot(NamedTuple):
    """Where a defect goes: the region it must stay in, its centre, and its size scale."""

    region: np.ndarray
    centre: tuple[float, float]
    scale: float


def defect(
    scene: Scene, name: str, region: np.ndarray, rng: np.random.Generator, scale: float, metal: bool
) -> None:
    """Draw one defect inside `region` and record its mask channel."""
    ys, xs = np.nonzero(region > 0.5)
    if len(xs) == 0:
        return
    i = int(rng.integers(len(xs)))
    spot = Spot(region, (float(xs[i]), float(ys[i])), scale)
    if name in ("scratch", "tear"):
        mask = _cut(scene, name, spot, rng, metal)
    else:
        mask = _blob(scene, name, spot, rng)
    scene.mark_defect(name, mask)


def _cut(scene: Scene, name: str, spot: Spot, rng: np.random.Generator, metal: bool) -> np.ndarray:
    """A scratch (one to three fine lines) or a tear (one jagged gash); returns its mask."""
    size = scene.size
    region, centre, scale = spot
    tear = name == "tear"
    n = 1 if tear else int(rng.integers(1, 4))
    length = size * scale * rng.uniform(0.15, 0.35)
    angle = rng.uniform(0, math.pi)
    paths = [_jagged_line(centre, length, angle, 0.05 if tear else 0.015, rng) for _ in range(n)]
    width = (rng.uniform(2.0, 3.5) if tear else rng.uniform(0.7, 1.3)) * size / 256

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        for path in paths:
            d.line([(x * s, y * s) for x, y in path], fill=255, width=max(1, int(width * s)))

    mask = coverage(size, draw)
    mask *= region
    if tear:
        edge = blur(mask, 1.2) * region
        scene.paint(edge, add_height=0.8)
        scene.paint(mask, rgb=(0.03, 0.02, 0.02), add_height=-2.5, gloss=0.0)
    else:
        light = scene.albedo * 0.4 + (0.55 if not metal else 0.9) * 0.6
        scene.paint(mask, rgb=light, add_height=-0.4, gloss=0.05 if not metal else 1.0)
    return mask


def _jagged_line(
    centre: tuple[float, float], length: float, angle: float, jag: float, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """Nine points along a line through (near) `centre`, each kicked sideways by `jag` * length."""
    cx, cy = centre
    ox, oy = rng.normal(0, length * 0.12, 2)
    steps = 8
    points = []
    for k in range(steps + 1):
        t = k / steps - 0.5
        kick = rng.normal(0, length * jag)
        points.append(
            (
                cx + ox + math.cos(angle) * t * length - math.sin(angle) * kick,
                cy + oy + math.sin(angle) * t * length + math.cos(angle) * kick,
            )
        )
    return points


def _blob(scene: Scene, name: str, spot: Spot, rng: np.random.Generator) -> np.ndarray:
    """A scuff, stain or tarnish patch with a ragged outline; returns its mask."""
    size = scene.size
    region, (cx, cy), scale = spot
    base = scene.albedo  # live: a second paint sees the first
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
        tint = np.asarray(rng.choice(STAIN_TINTS), np.float32)
        scene.paint(blob * 0.55, rgb=base * 0.55 + tint * 0.2)
        scene.paint(ring * 0.5, rgb=base * 0.4)
    elif name == "tarnish":
        tint = np.asarray((0.22, 0.2, 0.14) if rng.random() < 0.7 else (0.2, 0.3, 0.25), np.float32)
        scene.paint(blob * 0.85, rgb=tint, gloss=0.1, metal=0.3)
    return blob
