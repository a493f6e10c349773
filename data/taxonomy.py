"""The label contract (`configs/taxonomy.yaml`): loading, validation, version and hash.

Everything that names a class (the generator, the manifest validator, training heads,
metrics, API enums) goes through `load_taxonomy()`, so a class added to the YAML file
reaches all of them at once, and the content hash tells a model bundle trained on an
older contract apart.
"""

from __future__ import annotations

import hashlib
import json
from enum import Enum, EnumMeta
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from secondlook.errors import SecondlookError
from secondlook.resources import config_path
from secondlook.yamlfile import load_yaml

REQUIRED_TASKS = (
    "view",
    "category",
    "hardware_type",
    "hardware_finish",
    "stamp_type",
    "condition_grade",
    "defects",
    "authenticity",
)


class TaxonomyError(SecondlookError, ValueError):
    """The taxonomy file is missing, unreadable or breaks the contract."""


class TaskKind(str, Enum):
    multiclass = "multiclass"
    ordinal = "ordinal"
    binary = "binary"
    segmentation = "segmentation"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class View(_Frozen):
    name: str
    description: str = ""


class Task(_Frozen):
    name: str
    kind: TaskKind
    classes: tuple[str, ...] = Field(min_length=2)
    applies_to: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _classes_unique(self) -> Task:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"task {self.name!r} lists a class twice")
        if self.kind is TaskKind.binary and len(self.classes) != 2:
            raise ValueError(f"binary task {self.name!r} needs exactly 2 classes")
        return self

    def index(self, label: str) -> int:
        """Position of a class; raises KeyError naming the task for an unknown label."""
        try:
            return self.classes.index(label)
        except ValueError:
            raise KeyError(
                f"{label!r} is not a class of {self.name} (classes: {', '.join(self.classes)})"
            ) from None


class Cue(_Frozen):
    name: str
    description: str = ""
    visible_in: tuple[str, ...] = Field(min_length=1)


class Taxonomy(_Frozen):
    version: str
    views: tuple[View, ...] = Field(min_length=1)
    tasks: tuple[Task, ...]
    counterfeit_cues: tuple[Cue, ...] = Field(min_length=1)
    # Filled by `load_taxonomy`, not read from the file.
    content_hash: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Taxonomy:
        view_names = [v.name for v in self.views]
        if len(set(view_names)) != len(view_names):
            raise ValueError("a view is listed twice")
        task_names = [t.name for t in self.tasks]
        if len(set(task_names)) != len(task_names):
            raise ValueError("a task is listed twice")
        missing = [name for name in REQUIRED_TASKS if name not in task_names]
        if missing:
            raise ValueError(f"required tasks missing: {', '.join(missing)}")
        for task in self.tasks:
            unknown = set(task.applies_to) - set(view_names)
            if unknown:
                raise ValueError(f"task {task.name!r} applies to unknown views {sorted(unknown)}")
        if tuple(self.task("view").classes) != tuple(view_names):
            raise ValueError("the classes of task 'view' must be the views, in the same order")
        if tuple(self.task("authenticity").classes) != ("authentic", "counterfeit"):
            raise ValueError("task 'authenticity' must have classes [authentic, counterfeit]")
        cue_names = [c.name for c in self.counterfeit_cues]
        if len(set(cue_names)) != len(cue_names):
            raise ValueError("a counterfeit cue is listed twice")
        for cue in self.counterfeit_cues:
            unknown = set(cue.visible_in) - set(view_names)
            if unknown:
                raise ValueError(f"cue {cue.name!r} visible in unknown views {sorted(unknown)}")
        return self

    # -- lookups ---------------------------------------------------------------
    @property
    def view_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.views)

    @property
    def cue_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.counterfeit_cues)

    @property
    def task_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tasks)

    def task(self, name: str) -> Task:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(f"no task {name!r} in taxonomy {self.version} (tasks: {', '.join(self.task_names)})")

    def classes(self, task: str) -> tuple[str, ...]:
        return self.task(task).classes

    def cue(self, name: str) -> Cue:
        for cue in self.counterfeit_cues:
            if cue.name == name:
                return cue
        raise KeyError(f"no counterfeit cue {name!r} (cues: {', '.join(self.cue_names)})")

    def applies(self, task: str, view: str) -> bool:
        """Whether photos of `view` carry a label for `task` (else the label is left empty)."""
        return view in self.task(task).applies_to

    def cues_visible_in(self, view: str) -> tuple[str, ...]:
        return tuple(c.name for c in self.counterfeit_cues if view in c.visible_in)

    def as_enum(self, task: str) -> type[Enum]:
        """A `str` Enum of a task's classes, for API schemas and CLI choices."""
        # Enum's functional API, called through its metaclass: type checkers read a plain
        # `Enum(name, members)` with a computed name as looking up one member, not as a new class.
        make_enum: EnumMeta = Enum
        name = f"{task.title().replace('_', '')}Label"
        return make_enum(name, {c: c for c in self.classes(task)}, type=str)

    def describe(self) -> dict[str, str]:
        """What a model bundle records about the taxonomy it was trained on."""
        return {"taxonomy_version": self.version, "taxonomy_hash": self.content_hash}


def content_hash(raw: dict) -> str:
    """sha256 of the parsed content in canonical JSON: comments and layout do not count."""
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_taxonomy(raw: object, source: str = "<taxonomy>") -> Taxonomy:
    """Validate parsed YAML content; errors name the file and the offending field."""
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{source}: expected a mapping at the top level")
    try:
        return Taxonomy(**raw, content_hash=content_hash(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise TaxonomyError(f"{source}: invalid taxonomy: {problems}") from None
    except TypeError as exc:
        raise TaxonomyError(f"{source}: invalid taxonomy: {exc}") from None


def load_taxonomy_file(path: str | Path) -> Taxonomy:
    raw = load_yaml(path, TaxonomyError, what="taxonomy file")
    return parse_taxonomy(raw, source=str(path))


@lru_cache(maxsize=1)
def load_taxonomy() -> Taxonomy:
    """The shipped taxonomy (`configs/taxonomy.yaml`), loaded once per process."""
    return load_taxonomy_file(config_path("taxonomy.yaml"))
