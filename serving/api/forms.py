"""The appraisal form's rules: how many photos, which view tags and which category are accepted.

Checked before any photo is decoded, so that a wrong form costs the server nothing; each
refusal is a 422 problem naming what to send instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from data.taxonomy import Taxonomy
from serving.api.problems import Problem
from serving.tasks import CATEGORY


def checked_view_tags(
    taxonomy: Taxonomy, max_photos: int, photo_count: int, views: Sequence[str] | None, category: str | None
) -> list[str | None]:
    """The view tag of each photo in order (None: untagged), once the whole form is checked."""
    if not 1 <= photo_count <= max_photos:
        raise Problem(422, f"send 1 to {max_photos} photos, not {photo_count}", "photo-count")
    tags = [v.strip() or None for v in (views or [])]
    if len(tags) > photo_count:
        raise Problem(422, f"{len(tags)} view tags for {photo_count} photos", "view-count")
    unknown = sorted({t for t in tags if t and t not in taxonomy.view_names})
    if unknown:
        raise Problem(
            422,
            f"unknown view {', '.join(unknown)}; use one of {', '.join(taxonomy.view_names)}",
            "unknown-view",
        )
    if category is not None and category not in taxonomy.classes(CATEGORY):
        raise Problem(
            422,
            f"unknown category {category!r}; use one of {', '.join(taxonomy.classes('category'))}",
            "category",
        )
    return tags + [None] * (photo_count - len(tags))
