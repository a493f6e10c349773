"""The typed bundle metadata: bundles written before it existed still load and verify, it gives
back exactly the JSON it read (the metadata hash covers that JSON), and metadata with a missing,
unknown or mistyped key is refused with a BundleError that names the key.

tests/fixtures/bundle_v3 holds two format-3 bundles written by the exporter as it was before
`BundleMetadata` (commit a87c7da): `exported_metadata.json` is the metadata that `secondlook
export` (fp32) and `secondlook quantize` (int8) wrote into a smoke-trained reviewer's bundle;
`model.onnx` carries that metadata, sealed by the old `embed_metadata`, on a tiny graph with every
output (a few kB instead of megabytes).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from serving.bundle import METADATA_KEY, MODEL_FILE, Bundle, BundleError, embed_metadata
from serving.bundle_metadata import SEALS, BundleMetadata, MetadataError, Quantization, metadata_sha256
from serving.preprocess import PreprocessSpec

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bundle_v3"
VARIANTS = ("fp32", "int8")


def _canonical(metadata: dict[str, Any]) -> str:
    """The JSON the metadata hash covers (stricter than ==: 1 and 1.0 differ, NaN equals NaN)."""
    return json.dumps(metadata, sort_keys=True, separators=(",", ":"))


def _stored(path: Path) -> dict[str, Any]:
    proto = onnx.load(str(path / MODEL_FILE), load_external_data=False)
    return json.loads(next(p.value for p in proto.metadata_props if p.key == METADATA_KEY))


def _exported(variant: str) -> dict[str, Any]:
    return json.loads((FIXTURES / variant / "exported_metadata.json").read_text())


@pytest.mark.parametrize("variant", VARIANTS)
def test_bundles_written_before_the_typed_metadata_load_and_verify(variant: str) -> None:
    bundle = Bundle(FIXTURES / variant)
    meta = bundle.metadata
    assert isinstance(meta, BundleMetadata) and meta.format_version == 3
    assert (bundle.name, bundle.version) == ("reviewer_smoke", {"fp32": "1", "int8": "1-int8"}[variant])
    assert bundle.spec == meta.preprocess == PreprocessSpec(size=64)
    assert meta.temperatures["view"] == 20.0 and meta.calibration["evidence"].temperature == 20.0
    assert np.isnan(meta.metrics["item_auc"])  # NaN travels as JSON NaN
    assert (meta.quantization is None) == (variant == "fp32")
    if meta.quantization is not None:
        assert meta.quantization.format == "QDQ" and meta.quantization.calibration_photos == 8
    out = bundle.predict(np.zeros((2, 3, 64, 64), np.float32), with_cams=True)
    assert out.probabilities["view"].shape == (2, 4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_typed_metadata_gives_back_the_json_the_old_exporter_wrote(variant: str) -> None:
    for raw in (_exported(variant), _stored(FIXTURES / variant)):
        again = BundleMetadata.from_dict(raw).to_dict()
        assert list(again) == list(raw) and _canonical(again) == _canonical(raw)
        assert metadata_sha256(again) == metadata_sha256(raw) == raw["metadata_sha256"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_new_writer_seals_old_metadata_exactly_as_the_old_one_did(variant: str) -> None:
    proto = onnx.load(str(FIXTURES / variant / MODEL_FILE), load_external_data=False)
    stored = _stored(FIXTURES / variant)
    sealed = embed_metadata(proto, BundleMetadata.from_dict(stored))
    assert (sealed.graph_sha256, sealed.metadata_sha256) == (
        stored["graph_sha256"],
        stored["metadata_sha256"],
    )
    rewritten = json.loads(next(p.value for p in proto.metadata_props if p.key == METADATA_KEY))
    assert _canonical(rewritten) == _canonical(stored)


def test_the_writer_adds_only_what_it_was_given() -> None:
    body = {k: v for k, v in _stored(FIXTURES / "fp32").items() if k not in SEALS}
    plain = BundleMetadata.model_validate(body)  # as export builds it: not sealed yet
    assert list(plain.to_dict()) == list(body)  # no quantization, no empty hashes
    with pytest.raises(MetadataError, match="lacks graph_sha256, metadata_sha256"):
        BundleMetadata.from_dict(plain.to_dict())  # a bundle's metadata must be sealed
    variant = plain.model_copy(update={"version": "int8", "quantization": Quantization(format="QDQ")})
    expected = {**body, "version": "int8", "quantization": {"format": "QDQ"}}
    assert _canonical(variant.to_dict()) == _canonical(expected)


def _rewritten(
    tmp_path: Path, name: str, edit: Callable[[dict[str, Any]], None], rehash: bool = True
) -> Path:
    """A copy of the fp32 fixture whose metadata `edit` changed (re-hashed, so only the edit is wrong)."""
    target = tmp_path / name
    shutil.copytree(FIXTURES / "fp32", target)
    proto = onnx.load(str(target / MODEL_FILE))
    meta = _stored(target)
    edit(meta)
    if rehash and "metadata_sha256" in meta:
        meta["metadata_sha256"] = metadata_sha256(meta)
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta)})
    onnx.save(proto, str(target / MODEL_FILE))
    return target


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    *parents, key = path.split(".")

    def edit(meta: dict[str, Any]) -> None:
        for part in parents:
            meta = meta[part]
        meta[key] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.pop(key)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop("temperatures"), r"metadata lacks temperatures$"),
        (_drop("weights"), r"metadata lacks weights$"),
        (_drop("metadata_sha256"), r"metadata lacks metadata_sha256$"),
        (_drop("graph_sha256"), r"metadata lacks graph_sha256$"),
        (_set("taxonomy", {"taxonomy_version": "1.0.0"}), r"metadata lacks taxonomy\.taxonomy_hash$"),
        (
            _set("temperatures.evidence", "1.3"),
            r"metadata temperatures\.evidence is '1\.3': must be a number",
        ),
        (_set("temperatures.evidence", True), r"metadata temperatures\.evidence is True: must be a number"),
        (_set("opset", 18.0), r"metadata opset is 18\.0: Input should be a valid integer"),
        (_set("name", None), r"metadata name is None: Input should be a valid string"),
        (_set("weights.pretrained", "no"), r"metadata weights\.pretrained is 'no'"),
        (_set("preprocess.size", "64"), r"metadata preprocess is .*not a preprocess spec"),
        (_set("preprocess.layout", "NHWC"), r"metadata preprocess is .*NCHW layout"),
        (_set("preprocess", {"size": 64}), r"metadata preprocess is .*lacks channel_order"),
        (_set("surprise", 1), r"metadata has unknown key surprise$"),
        (_set("quantization", {"format": "QDQ", "bits": 4}), r"metadata has unknown key quantization\.bits$"),
    ],
)
def test_metadata_with_a_missing_unknown_or_mistyped_key_is_refused_by_name(
    tmp_path: Path, edit: Callable[[dict[str, Any]], None], message: str
) -> None:
    with pytest.raises(BundleError, match=r"bundled/model\.onnx: " + message):
        Bundle(_rewritten(tmp_path, "bundled", edit))


def test_checks_before_and_after_the_typed_parse_still_hold(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="bundle format 2; this secondlook reads format 3"):
        Bundle(_rewritten(tmp_path, "old", _set("format_version", 2)))
    with pytest.raises(BundleError, match="metadata does not match its recorded sha256"):
        Bundle(_rewritten(tmp_path, "edited", _set("temperatures.evidence", 2.0), rehash=False))
    with pytest.raises(BundleError, match=r"temperature of evidence is 0\.0"):
        Bundle(_rewritten(tmp_path, "zero", _set("temperatures.evidence", 0.0)))
    with pytest.raises(BundleError, match="defect threshold of stain is 2"):
        Bundle(_rewritten(tmp_path, "threshold", _set("defect_thresholds.stain", 2)))
