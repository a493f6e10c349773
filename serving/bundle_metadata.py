"""`BundleMetadata`: the typed contract a model bundle carries, written by export and quantize,
read by the loader and everyone after it.

It travels as JSON under the `secondlook` key of the ONNX file's metadata_props. Its hash
(`metadata_sha256`) covers the canonical JSON of exactly that mapping, so the typed class must
give back the mapping it was read from: `BundleMetadata.from_dict(d).to_dict() == d`. Hence no
field gains a default on the way (`to_dict` leaves out what was not given: `quantization` on a
plain bundle), numbers keep their JSON type (`Real` keeps 1 an int), and the preprocess spec must
be written the way `PreprocessSpec.to_dict` writes it. Bundles exported before this class
existed (format 3) read and verify unchanged (tests/fixtures/bundle_v3).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, ValidationError

from secondlook.errors import SecondlookError
from serving.preprocess import PreprocessSpec

# Set by `serving.bundle.embed_metadata` once the graph is final; a bundle without them is refused.
SEALS = ("graph_sha256", "metadata_sha256")


class MetadataError(SecondlookError, ValueError):
    """Metadata that is not a `BundleMetadata`; the message names the keys at fault."""


def metadata_sha256(metadata: dict[str, Any]) -> str:
    """sha256 of the metadata mapping (canonical JSON, its own hash left out), graph hash included.

    The graph hash alone leaves temperatures, output names and thresholds free to change
    unnoticed; this one binds them to the graph."""
    body = {k: v for k, v in metadata.items() if k != "metadata_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _real(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value  # an int stays an int: its JSON, and so the hash, must not change


# A JSON number (NaN included: a metric of a head without labels), kept exactly as written.
Real = Annotated[float, PlainValidator(_real), PlainSerializer(lambda value: value)]


def _preprocess(value: object) -> PreprocessSpec:
    if isinstance(value, PreprocessSpec):
        return value
    if not isinstance(value, dict):
        raise ValueError("must be a mapping")
    keys = {f.name for f in dataclasses.fields(PreprocessSpec)}
    if set(value) != keys:
        wrong = [f"lacks {k}" for k in sorted(keys - set(value))]
        wrong += [f"has unknown key {k}" for k in sorted(set(value) - keys)]
        raise ValueError(", ".join(wrong))
    try:
        spec = PreprocessSpec.from_dict(value)
    except (TypeError, ValueError) as exc:  # InputError is a ValueError
        raise ValueError(str(exc)) from None
    if spec.to_dict() != value:
        raise ValueError("is not a preprocess spec the way export writes one")
    return spec


# Read into the `PreprocessSpec` serving preprocesses with, written back as its `to_dict`.
Preprocess = Annotated[PreprocessSpec, PlainValidator(_preprocess), PlainSerializer(PreprocessSpec.to_dict)]


class _Part(BaseModel):
    model_config = ConfigDict(strict=True, frozen=True, extra="forbid")


class TaxonomyRef(_Part):
    """The taxonomy the model was trained on (`Taxonomy.describe()`); serving refuses another."""

    taxonomy_version: str
    taxonomy_hash: str


class Calibration(_Part):
    """One head's temperature scaling, fitted on validation."""

    ece_before: Real
    ece_after: Real
    temperature: Real


class Weights(_Part):
    """Where training started: ImageNet weights (with frozen feature levels) or random ones."""

    pretrained: bool
    frozen_levels: int


class Quantization(_Part):
    """How an INT8 variant was made. `int8_variant` writes the format alone; `quantize` also
    records its calibration, the accuracy gate and the measured speed-up."""

    format: str
    weights: str | None = None
    activations: str | None = None
    calibration_manifest: str | None = None
    calibration_photos: int | None = None
    source_bundle: str | None = None
    test_fp32: dict[str, Real] | None = None
    test_int8: dict[str, Real] | None = None
    speedup_batch16: Real | None = None
    max_loss_pp: Real | None = None


class BundleMetadata(_Part):
    """Everything serving needs to run a bundle and everything people need to trust it.

    Task-keyed mappings (`outputs`, `output_kinds`, `temperatures`, `calibration`) use the
    names of `serving.tasks`; `metrics` is free-form (the calibrated validation figures of the
    training run, NaN where a head had no labels)."""

    format_version: int  # serving.bundle.BUNDLE_FORMAT_VERSION
    name: str
    version: str
    backbone: str  # timm model name
    taxonomy: TaxonomyRef
    preprocess: Preprocess
    outputs: dict[str, str]  # task (or cam_ + task) -> graph output name
    output_kinds: dict[str, str]  # task -> what its output holds, for people
    temperatures: dict[str, Real]  # task -> calibration temperature
    calibration: dict[str, Calibration]  # task -> its temperature scaling
    defect_thresholds: dict[str, Real]  # defect class -> mask probability from which a photo shows it
    mlflow_run_id: str | None
    git_sha: str | None
    data_manifest_sha256: str | None
    metrics: dict[str, Any]
    weights: Weights
    opset: int
    quantization: Quantization | None = None  # INT8 variants only
    graph_sha256: str = ""  # SEALS: set by embed_metadata
    metadata_sha256: str = ""

    @classmethod
    def from_dict(cls, raw: object) -> BundleMetadata:
        """The metadata of an exported bundle, hashes included; `MetadataError` names every key
        that is missing, unknown or of the wrong type."""
        if not isinstance(raw, dict):
            raise MetadataError(f"metadata is a {type(raw).__name__}, not a mapping")
        errors: list[Any] = []
        try:
            meta = cls.model_validate(raw)
        except ValidationError as exc:
            errors = list(exc.errors())
        else:
            if all(key in raw for key in SEALS):
                return meta
        missing = [_key(e["loc"]) for e in errors if e["type"] == "missing"]
        missing += [key for key in SEALS if key not in raw]
        problems = [f"metadata lacks {', '.join(missing)}"] if missing else []
        problems += [
            f"metadata has unknown key {_key(e['loc'])}" for e in errors if e["type"] == "extra_forbidden"
        ]
        problems += [
            f"metadata {_key(e['loc'])} is {_short(e['input'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in errors
            if e["type"] not in ("missing", "extra_forbidden")
        ]
        raise MetadataError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """The JSON mapping, with exactly the keys that were given (read or constructed)."""
        return self.model_dump(exclude_unset=True)


def _key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
