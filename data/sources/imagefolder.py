"""ImageFolder trees: `ROOT/<class>/<image>`, optionally under `ROOT/<split>/`.

The folder name is the label of one taxonomy task (`task`, category by default); every
other label stays empty. Each photo is its own item, since the tree says nothing about
which photos show the same bag.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from data.manifest import NO_DEFECTS, relative_to
from data.sources._common import finish, is_image, layout_error
from data.splits import split_for_item
from data.taxonomy import load_taxonomy
from secondlook.errors import InputError

SOURCE = "imagefolder"
# Folder name (lower case) -> manifest split.
SPLIT_DIRS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
EXPECTED = """
ROOT/
  <class>/                  a class of the chosen task, e.g. wallet/
    <image>.jpg|.jpeg|.png|.webp
or, split in advance:
ROOT/
  train/  val/ (or valid/)  test/
    <class>/
      <image>.jpg|.jpeg|.png|.webp
"""


def _subdirs(folder: Path) -> list[Path]:
    return sorted(
        (p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name
    )


def _images(folder: Path) -> list[Path]:
    """Images anywhere below `folder`, in a stable order, hidden files and folders left out."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and is_image(p)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def _class_dirs(root: Path) -> list[tuple[str | None, Path]]:
    """(split or None, class folder) pairs, detecting whether ROOT is split in advance."""
    if not root.is_dir():
        raise layout_error(SOURCE, root, EXPECTED, "ROOT is not a folder")
    top = _subdirs(root)
    split_named = [d for d in top if d.name.lower() in SPLIT_DIRS]
    if split_named and len(split_named) != len(top):
        others = ", ".join(d.name for d in top if d not in split_named)
        raise layout_error(SOURCE, root, EXPECTED, f"ROOT mixes split folders with other folders ({others})")
    if split_named:
        return [(SPLIT_DIRS[s.name.lower()], c) for s in split_named for c in _subdirs(s)]
    return [(None, c) for c in top]


def import_imagefolder(
    root: Path,
    out_dir: Path,
    *,
    split_seed: int = 0,
    task: str = "category",
    ignore_unknown: bool = False,
) -> pd.DataFrame:
    """One row per image; the class folder labels `task`, the split folder (if any) the split."""
    root, out_dir = Path(root), Path(out_dir)
    taxonomy = load_taxonomy()
    if task not in taxonomy.task_names:
        raise InputError(f"unknown task {task!r} (tasks: {', '.join(taxonomy.task_names)})")
    allowed = taxonomy.classes(task) + ((NO_DEFECTS,) if task == "defects" else ())

    class_dirs = _class_dirs(root)
    if not class_dirs:
        raise layout_error(SOURCE, root, EXPECTED, "no class folders below ROOT")
    unknown = sorted({c.name for _, c in class_dirs if c.name not in allowed})
    if unknown and not ignore_unknown:
        raise layout_error(
            SOURCE,
            root,
            EXPECTED,
            f"folder name(s) {', '.join(unknown)} are not {task} classes (allowed: {', '.join(allowed)}); "
            "rename them or pass ignore_unknown=True to skip them",
        )

    rows = []
    for split, class_dir in class_dirs:
        if class_dir.name not in allowed:
            continue
        for image in _images(class_dir):
            photo_id = image.relative_to(root).as_posix()
            rows.append(
                {
                    "photo_id": photo_id,
                    "item_id": photo_id,
                    "image_path": relative_to(image, out_dir),
                    "split": split or split_for_item(photo_id, split_seed),
                    task: class_dir.name,
                }
            )
    if not rows:
        raise layout_error(SOURCE, root, EXPECTED, "found no images in the class folders")
    return finish(rows, SOURCE, ignored_folders=len(unknown))
