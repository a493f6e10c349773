"""Contact sheets: photos in a grid with their labels and cues written underneath.

Looking at the data beats reading about it; `secondlook data preview` makes one sheet
from any manifest (benchmark or imported), with defect masks outlined in red and, on a
counterfeit's photos, the region its cues show in (its cue region) in yellow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from data.atomic import atomic_path
from data.decode import ImageDecodeError, decode_image
from data.manifest import resolve_image_path, split_list
from data.masks import CUE_REGION_BIT, cue_region, load_bitmask, unpack_bits
from data.taxonomy import load_taxonomy
from secondlook.errors import InputError


def _label_columns() -> tuple[str, ...]:
    """Every taxonomy task but authenticity, which gets its own (coloured) caption line."""
    return tuple(t for t in load_taxonomy().task_names if t != "authenticity")


def _caption(row: pd.Series) -> list[str]:
    lines = [f"{row['item_id']}  {row.get('split') or ''}".strip()]
    shown = [c for c in _label_columns() if c in row and pd.notna(row[c])]
    labels = [str(row[c]) for c in shown if str(row[c]) != "none"]
    lines.append(" / ".join(labels[:3]))
    if len(labels) > 3:
        lines.append(" / ".join(labels[3:]))
    verdict = row.get("authenticity")
    cues = split_list(row.get("cues"))
    if pd.notna(verdict):
        lines.append(f"{verdict}: {', '.join(cues)}" if cues else str(verdict))
    return lines


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from data.synthetic.text import font

    try:
        return font("DejaVuSans.ttf", size)
    except OSError:  # pragma: no cover - matplotlib always ships it
        return ImageFont.load_default()


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    """Cut `text` with an ellipsis so it fits in `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def _outline(region: np.ndarray, tile: int) -> np.ndarray:
    """The edge pixels of a (H, W) boolean region scaled to a tile."""
    inside = np.asarray(Image.fromarray(region.astype(np.uint8) * 255).resize((tile, tile))) > 127
    return inside ^ np.roll(inside, 1, 0) | inside ^ np.roll(inside, 1, 1)


def select_rows(frame: pd.DataFrame, limit: int, by_item: bool) -> pd.DataFrame:
    """The first `limit` photos, or the photos of the first items when `by_item` (one item per row)."""
    if by_item:
        items = (
            frame["item_id"]
            .drop_duplicates()
            .head(max(1, limit // max(1, frame.groupby("item_id").size().max())))
        )
        return frame[frame["item_id"].isin(items)]
    return frame.head(limit)


def contact_sheet(
    manifest_path: str | Path,
    frame: pd.DataFrame,
    out: str | Path,
    tile: int = 224,
    columns: int | None = None,
    show_masks: bool = True,
) -> Path:
    """Write a PNG contact sheet of `frame`'s photos to `out` (atomically)."""
    if frame.empty:
        raise InputError("nothing to preview: the selection has no rows")
    views_per_item = int(frame.groupby("item_id").size().max())
    columns = columns or (views_per_item if views_per_item > 1 else 6)
    rows = -(-len(frame) // columns)
    caption_h = 56
    sheet = Image.new("RGB", (columns * tile, rows * (tile + caption_h)), (250, 250, 248))
    draw = ImageDraw.Draw(sheet)
    font = _font(12)
    for i, (_, row) in enumerate(frame.iterrows()):
        x, y = (i % columns) * tile, (i // columns) * (tile + caption_h)
        path = resolve_image_path(manifest_path, row["image_path"])
        try:
            photo = decode_image(path).resize((tile, tile))
        except ImageDecodeError as exc:
            photo = Image.new("RGB", (tile, tile), (90, 30, 30))
            ImageDraw.Draw(photo).text((6, tile // 2), exc.code, fill=(255, 255, 255), font=font)
        if show_masks and pd.notna(row.get("mask_path")):
            mask_class = row.get("mask_class") if pd.notna(row.get("mask_class")) else None
            packed = load_bitmask(resolve_image_path(manifest_path, row["mask_path"]), mask_class)
            pixels = np.asarray(photo).copy()
            # Defects in red; where a counterfeit's cues show (its cue region) in yellow.
            defects = np.asarray(unpack_bits(packed, CUE_REGION_BIT).any(axis=0))
            pixels[_outline(defects, tile)] = (255, 40, 40)
            pixels[_outline(cue_region(packed), tile)] = (255, 220, 0)
            photo = Image.fromarray(pixels)
        sheet.paste(photo, (x, y))
        counterfeit = row.get("authenticity") == "counterfeit"
        colour = (170, 20, 20) if counterfeit else (30, 30, 30)
        for k, line in enumerate(_caption(row)[:4]):
            draw.text((x + 4, y + tile + 3 + k * 13), _fit(line, font, tile - 8), fill=colour, font=font)
    out = Path(out)
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")
    return out
