"""MVTec AD: industrial photos with pixel-exact defect masks, used for the defects head.

MVTec categories (leather, metal_nut, ...) are not bag categories, so `category` stays
empty and the MVTec category goes to `mvtec_category`; the raw defect type goes to
`mvtec_defect`. A defect type becomes a taxonomy defect class only where the meaning
matches (DEFECT_MAP); the others keep the photo with `defects` empty (unknown).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.manifest import NO_DEFECTS, relative_to
from data.sources._common import finish, is_image, layout_error
from data.splits import split_for_item

SOURCE = "mvtec"
GOOD = "good"
# (MVTec category, defect type) -> taxonomy defect class. ("*", defect) applies to every
# category unless the category has its own entry. Absent = no class means the same thing
# (bent, broken_*, flip, misplaced, thread, print, combined, ...): defects left unknown.
DEFECT_MAP: dict[tuple[str, str], str] = {
    # Surface defects whose meaning carries over to leather goods, any category.
    ("*", "scratch"): "scratch",
    ("*", "crack"): "tear",
    ("*", "hole"): "tear",
    ("*", "cut"): "tear",
    ("*", "poke"): "tear",
    ("*", "contamination"): "stain",
    ("*", "metal_contamination"): "stain",
    ("*", "color"): "stain",
    ("*", "glue"): "stain",
    ("*", "glue_strip"): "stain",
    ("*", "liquid"): "stain",
    ("*", "oil"): "stain",
    # Per category, where the generic meaning does not fit or the name is category-specific.
    ("leather", "fold"): "scuff",  # a crease worn into the grain
    ("metal_nut", "color"): "tarnish",  # discoloured metal, as on plated hardware
    ("screw", "scratch_head"): "scratch",
    ("screw", "scratch_neck"): "scratch",
    ("tile", "gray_stroke"): "scuff",  # a rubbed-on grey mark
}
VAL_FRACTION = 0.15  # of MVTec train photos, held out as val (MVTec has no val split)
EXPECTED = """
ROOT/                       the dataset root, or one category folder such as ROOT = leather/
  <category>/               e.g. leather/, metal_nut/
    train/good/*.png
    test/good/*.png
    test/<defect_type>/*.png
    ground_truth/<defect_type>/<stem>_mask.png
"""


def defect_class(category: str, defect_type: str) -> str | None:
    """The taxonomy defect class of an MVTec defect type, or None when none matches."""
    return DEFECT_MAP.get((category, defect_type)) or DEFECT_MAP.get(("*", defect_type))


def _is_category(folder: Path) -> bool:
    # `good` tells MVTec apart from an ImageFolder tree that also has train/ and test/.
    return (folder / "train" / GOOD).is_dir() or (folder / "test" / GOOD).is_dir()


def _categories(root: Path) -> list[Path]:
    if not root.is_dir():
        raise layout_error(SOURCE, root, EXPECTED, "ROOT is not a folder")
    if _is_category(root):
        return [root]
    categories = sorted((d for d in root.iterdir() if d.is_dir() and _is_category(d)), key=lambda d: d.name)
    if not categories:
        raise layout_error(
            SOURCE, root, EXPECTED, "no MVTec category folder (with train/good/ or test/good/)"
        )
    return categories


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*") if p.is_file() and is_image(p)) if folder.is_dir() else []


def import_mvtec(root: Path, out_dir: Path, *, split_seed: int = 0) -> pd.DataFrame:
    """One row per photo; counts of unmapped defect photos and of missing masks go to attrs."""
    root, out_dir = Path(root).resolve(), Path(out_dir)
    rows, unmapped, missing_masks = [], 0, 0
    for category_dir in _categories(root):
        category = category_dir.name
        for part in ("train", "test"):
            for image in _images(category_dir / part):
                defect_type = image.parent.name
                photo_id = f"{category}/{image.relative_to(category_dir).as_posix()}"
                if part == "test":
                    split = "test"
                else:
                    split = split_for_item(photo_id, split_seed, (1 - VAL_FRACTION, VAL_FRACTION, 0.0))
                row = {
                    "photo_id": photo_id,
                    "item_id": photo_id,
                    "image_path": relative_to(image, out_dir),
                    "split": split,
                    "mvtec_category": category,
                    "mvtec_defect": defect_type,
                }
                if defect_type == GOOD:
                    row.update(defects=NO_DEFECTS, condition_grade="A")
                elif (cls := defect_class(category, defect_type)) is not None:
                    row["defects"] = cls
                    mask = category_dir / "ground_truth" / defect_type / f"{image.stem}_mask.png"
                    if mask.is_file():
                        row.update(mask_path=relative_to(mask, out_dir), mask_class=cls)
                    else:
                        missing_masks += 1
                else:
                    unmapped += 1
                rows.append(row)
    if not rows:
        raise layout_error(SOURCE, root, EXPECTED, "found no images in the category folders")
    return finish(rows, SOURCE, unmapped=unmapped, missing_masks=missing_masks)
