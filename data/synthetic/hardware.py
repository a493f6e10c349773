"""Outlines of the hardware types: the metal piece, the plate to engrave, and where screws go.

Each outline function takes the frame of the box the piece fills and returns how to draw
the piece (see `scene.coverage`), the plate area for engraving, and the screw positions.
Adding a hardware type means one function here and one entry in OUTLINES.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from PIL import ImageDraw

from data.synthetic.scene import Box, Draw, coverage

Point = tuple[float, float]
Outline = tuple[Draw, Box, list[Point]]


class Frame(NamedTuple):
    """The box a piece fills: its corners, its width and height, and its centre."""

    x0: float
    y0: float
    x1: float
    y1: float
    w: float
    h: float
    cx: float
    cy: float

    @classmethod
    def of(cls, box: Box) -> Frame:
        x0, y0, x1, y1 = box
        return cls(x0, y0, x1, y1, x1 - x0, y1 - y0, (x0 + x1) / 2, (y0 + y1) / 2)


def hardware_shape(kind: str, size: int, box: Box) -> tuple[np.ndarray, Box, list[Point]]:
    """Coverage of a hardware piece in `box`, the plate area for engraving, and screw positions."""
    draw, plate, screws = OUTLINES.get(kind, _snap_button)(Frame.of(box))
    return coverage(size, draw), plate, screws


def _rounded(d: ImageDraw.ImageDraw, s: float, b: Box, r: float, fill: int = 255) -> None:
    d.rounded_rectangle([b[0] * s, b[1] * s, b[2] * s, b[3] * s], radius=r * s, fill=fill)


def _zipper_pull(f: Frame) -> Outline:
    _, y0, _, y1, w, h, cx, _ = f
    tab: Box = (cx - w * 0.22, y0 + h * 0.25, cx + w * 0.22, y1)
    plate = (tab[0], tab[1] + h * 0.2, tab[2], tab[3] - h * 0.05)

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        _rounded(d, s, (cx - w * 0.16, y0, cx + w * 0.16, y0 + h * 0.3), w * 0.05)
        _rounded(d, s, tab, w * 0.12)
        d.ellipse(
            [(cx - w * 0.07) * s, (tab[1] + h * 0.04) * s, (cx + w * 0.07) * s, (tab[1] + h * 0.14) * s],
            fill=0,
        )

    return draw, plate, []


def _turnlock(f: Frame) -> Outline:
    x0, y0, x1, y1, w, h, cx, cy = f
    mount = (x0, y0 + h * 0.15, x1, y1 - h * 0.15)
    screws = [
        (x0 + w * 0.08, mount[1] + h * 0.1),
        (x1 - w * 0.08, mount[1] + h * 0.1),
        (x0 + w * 0.08, mount[3] - h * 0.1),
        (x1 - w * 0.08, mount[3] - h * 0.1),
    ]
    plate = (x0 + w * 0.12, mount[1] + h * 0.02, x1 - w * 0.12, mount[1] + h * 0.2)

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        # The rounded bar drawn is the engraving plate, not the whole mount the screws sit on;
        # the generator has always drawn it so (changing it would change every turnlock photo).
        _rounded(d, s, plate, h * 0.12)
        d.ellipse(
            [(cx - w * 0.16) * s, (cy - h * 0.3) * s, (cx + w * 0.16) * s, (cy + h * 0.3) * s], fill=255
        )

    return draw, plate, screws


def _buckle(f: Frame) -> Outline:
    x0, y0, x1, y1, w, h, cx, cy = f
    t = min(w, h) * 0.16
    plate = (x0 + t * 1.3, y0, x1 - t * 1.3, y0 + t)

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        _rounded(d, s, (x0, y0, x1, y1), t)
        _rounded(d, s, (x0 + t, y0 + t, x1 - t, y1 - t), t * 0.4, fill=0)
        d.rectangle([(cx - t * 0.3) * s, (y0 + t) * s, (cx + t * 0.3) * s, (y1 - t * 0.6) * s], fill=255)

    return draw, plate, [(x0 + t / 2, cy), (x1 - t / 2, cy)]


def _padlock(f: Frame) -> Outline:
    x0, y0, x1, y1, w, h, cx, _ = f
    body: Box = (x0 + w * 0.1, y0 + h * 0.38, x1 - w * 0.1, y1)
    plate = (body[0], body[1] + h * 0.05, body[2], body[1] + h * 0.3)

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        sw = w * 0.12  # shackle width
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
        _rounded(d, s, body, w * 0.1)
        # keyhole: a round hole over a slot
        d.ellipse(
            [(cx - w * 0.05) * s, (body[3] - h * 0.24) * s, (cx + w * 0.05) * s, (body[3] - h * 0.14) * s],
            fill=0,
        )
        d.rectangle(
            [(cx - w * 0.02) * s, (body[3] - h * 0.17) * s, (cx + w * 0.02) * s, (body[3] - h * 0.08) * s],
            fill=0,
        )

    return draw, plate, []


def _d_ring(f: Frame) -> Outline:
    x0, y0, x1, y1, w, h, _, _ = f
    t = min(w, h) * 0.13
    plate = (x0 + w * 0.2, y1 - h * 0.3, x1 - w * 0.2, y1 - h * 0.05)

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        d.chord([x0 * s, (y0 - h * 0.3) * s, x1 * s, (y1 - h * 0.3) * s], 0, 180, fill=255)
        d.chord([(x0 + t) * s, (y0 - h * 0.3 + t) * s, (x1 - t) * s, (y1 - h * 0.3 - t) * s], 0, 180, fill=0)
        d.rectangle([x0 * s, (y0 + h * 0.2 - t) * s, x1 * s, (y0 + h * 0.2) * s], fill=255)
        _rounded(d, s, (x0, y1 - h * 0.32, x1, y1), h * 0.06)

    return draw, plate, [(x0 + w * 0.12, y1 - h * 0.17), (x1 - w * 0.12, y1 - h * 0.17)]


def _snap_button(f: Frame) -> Outline:
    cx, cy, r = f.cx, f.cy, min(f.w, f.h) / 2
    plate = (cx - r * 0.75, cy + r * 0.2, cx + r * 0.75, cy + r * 0.65)

    def draw(d: ImageDraw.ImageDraw, s: float) -> None:
        d.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=255)

    return draw, plate, []


# Any other kind (snap_button) is drawn as a snap button.
OUTLINES: dict[str, Callable[[Frame], Outline]] = {
    "zipper_pull": _zipper_pull,
    "turnlock": _turnlock,
    "buckle": _buckle,
    "padlock": _padlock,
    "d_ring": _d_ring,
    "snap_button": _snap_button,
}
