"""Check a manifest against the label contract before anything trains on it.

`validate_manifest` reads a manifest (CSV or Parquet, see data/manifest.py) and lists
every problem it finds, each a `ManifestProblem` with its data row (row 1 is the first row
under the CSV header, so CSV line = row + 1), the column at fault and a stable `code`:

- missing_value: empty photo_id or item_id
- duplicate_id: a photo_id already used on an earlier row
- no_photo: an item none of whose rows has an image_path
- missing_file / unreadable_file: the image is not on disk / does not decode safely
  (data/decode.py); only with check_files
- bad_label: a task column value that is not a class of the task (`defects`: classes
  separated by '|', or `none`)
- bad_cue: a cue that is not a taxonomy counterfeit cue, or a photo cue missing from
  its item_cues
- not_applicable: a task label on a photo whose view the task does not apply to
- bad_split, split_mixed: a split that is not train/val/test; an item in several splits
- inconsistent_item: an item whose photos disagree on authenticity or category
- cue_on_authentic: counterfeit cues on an authentic photo
- bad_mask: mask_path not on disk, mask_class not a defect class, mask_class without mask
- bad_value: declared_value negative or not finite

Everything except the file checks is vectorised (data/validate_values.py), so 100k rows
take a second or two; the file checks (data/validate_files.py) decode every image.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from data.manifest import read_manifest
from data.taxonomy import load_taxonomy
from data.validate_files import check_images, check_mask_files
from data.validate_problem import ManifestProblem
from data.validate_values import (
    check_applicability,
    check_cues,
    check_extras,
    check_ids,
    check_items,
    check_labels,
)

__all__ = ["ManifestProblem", "ValidationReport", "validate_manifest"]


@dataclass
class ValidationReport:
    rows: int
    items: int
    problems: list[ManifestProblem] = field(default_factory=list)
    path: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        """Number of problems per code, most frequent first."""
        return dict(Counter(p.code for p in self.problems).most_common())

    def format(self, max_lines: int = 50) -> str:
        name = f"{self.path}: " if self.path is not None else ""
        size = f"{self.rows} rows, {self.items} items"
        if self.ok:
            return f"{name}OK ({size}, no problems)"
        per_code = ", ".join(f"{code} {n}" for code, n in self.counts().items())
        count = len(self.problems)
        lines = [f"{name}{count} problem{'' if count == 1 else 's'} in {size}: {per_code}"]
        lines += [problem.format() for problem in self.problems[:max_lines]]
        if len(self.problems) > max_lines:
            lines.append(f"... and {len(self.problems) - max_lines} more")
        return "\n".join(lines)


def validate_manifest(
    path: Path, *, check_files: bool = True, workers: int = 4, progress: bool = False
) -> ValidationReport:
    """Validate the manifest at `path`; a ManifestError if it cannot be read at all."""
    path = Path(path)
    taxonomy = load_taxonomy()
    frame = read_manifest(path, taxonomy)
    problems: list[ManifestProblem] = []
    problems += check_ids(frame)
    problems += check_labels(frame, taxonomy)
    problems += check_cues(frame, taxonomy)
    problems += check_applicability(frame, taxonomy)
    problems += check_items(frame, taxonomy)
    problems += check_extras(frame, taxonomy)
    if check_files:
        problems += check_mask_files(frame, path)
        problems += check_images(frame, path, workers=workers, progress=progress)
    columns = list(frame.columns)
    problems.sort(key=lambda p: (p.row, columns.index(p.column) if p.column in columns else -1, p.code))
    items = int(frame["item_id"].nunique(dropna=True))
    return ValidationReport(rows=len(frame), items=items, problems=problems, path=path)
