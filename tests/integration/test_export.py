"""Export, INT8, registry and the torch-free loader, on a smoke-trained reviewer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from data.taxonomy import load_taxonomy
from serving.bundle import METADATA_KEY, MODEL_FILE, Bundle, BundleError, output_names
from serving.bundle_metadata import BundleMetadata, metadata_sha256
from serving.registry import RegistryError, list_bundles, promote, read_registry, resolve_bundle
from training.evaluate import compute_metrics, predict_split
from training.export import PARITY_TOLERANCE, ExportError, export, relative_gap, sample_photos
from training.quantize import QuantizationRefused, quantize

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle(
    smoke_run: tuple[Path, Path], tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    run_dir, _ = smoke_run
    out = tmp_path_factory.mktemp("models") / "reviewer_smoke" / "1"
    report = export(run_dir / "model.safetensors", out, tiny_manifest)
    assert report.parity_max_abs_diff <= 1e-4
    return out


def test_bundle_is_one_file_with_every_head_and_its_metadata(bundle: Path) -> None:
    files = sorted(p.name for p in bundle.iterdir())
    assert files == ["card.md", "export.json", "model.onnx"]  # no external .onnx.data sidecar
    proto = onnx.load(str(bundle / MODEL_FILE))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    loaded = Bundle(bundle)
    names = {o.name for o in loaded.session.get_outputs()}
    assert names == set(output_names(load_taxonomy()).values())
    meta = loaded.metadata
    assert meta.format_version == 3 and meta.name == "reviewer_smoke" and meta.version == "1"
    assert meta.taxonomy.taxonomy_hash == load_taxonomy().content_hash
    assert meta.preprocess.size == 64 and set(meta.temperatures) >= {"evidence", "view"}
    assert meta.git_sha and len(meta.git_sha) >= 7 and meta.mlflow_run_id
    assert meta.data_manifest_sha256 and len(meta.data_manifest_sha256) == 64
    assert {"view", "category", "condition", "defects_auroc"} <= set(meta.metrics)
    assert meta.weights.model_dump() == {"pretrained": False, "frozen_levels": 0}
    assert meta.quantization is None
    card = (bundle / "card.md").read_text()
    assert "## Intended use" in card and "## Known limitations" in card and "Calibration" in card
    assert json.loads((bundle / "export.json").read_text())["parity_max_abs_diff"] <= 1e-4


def test_typed_metadata_gives_back_the_exported_json(bundle: Path, tmp_path: Path) -> None:
    """The metadata hash covers the JSON export wrote: read into `BundleMetadata` and written
    back, it must come out with no key added, dropped or retyped (JSON is stricter than ==)."""
    proto = onnx.load(str(bundle / MODEL_FILE), load_external_data=False)
    raw = json.loads(next(p.value for p in proto.metadata_props if p.key == METADATA_KEY))
    again = BundleMetadata.from_dict(raw).to_dict()
    assert list(again) == list(raw)
    assert json.dumps(again, sort_keys=True) == json.dumps(raw, sort_keys=True)
    assert metadata_sha256(again) == raw["metadata_sha256"] == Bundle(bundle).metadata.metadata_sha256

    # and a key missing or of the wrong type is named, even when the hash was made to match
    del raw["weights"]
    raw["temperatures"]["view"] = "1.0"
    raw["metadata_sha256"] = metadata_sha256(raw)
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(raw)})
    (tmp_path / "retyped").mkdir()
    onnx.save(proto, str(tmp_path / "retyped" / MODEL_FILE))
    with pytest.raises(BundleError, match=r"lacks weights; .*temperatures\.view is '1\.0': must be a number"):
        Bundle(tmp_path / "retyped")


def test_batch_is_really_dynamic_and_outputs_are_calibrated(bundle: Path, tiny_manifest: Path) -> None:
    loaded = Bundle(bundle)
    photos = sample_photos(tiny_manifest, 7, loaded.spec)
    for size in (1, 7):
        result = loaded.predict(photos[:size], with_cams=True)
        assert result.evidence.shape == (size,) and ((result.evidence >= 0) & (result.evidence <= 1)).all()
        assert np.allclose(result.probabilities["view"].sum(1), 1, atol=1e-5)
        assert result.probabilities["condition_grade"].shape == (size, 4)
        assert result.probabilities["category"].shape == (size, 6) and result.grade_logits.shape == (size, 3)
        assert result.defects.shape == (size, 5, 16, 16)
        assert result.cams["evidence"].shape[:2] == (size, 1)
    # one photo alone gives the same answer as inside a batch of seven
    alone = loaded.run(photos[:1])["evidence"]
    batched = loaded.run(photos)["evidence"][:1]
    assert np.allclose(alone, batched, atol=1e-5)


def test_parity_allows_float32_rounding_of_large_outputs_and_nothing_more() -> None:
    # A grade logit of 400 rounds to about 3e-5 in float32; two runtimes' kernels may land
    # 1e-4 apart there, where a logit near 0 must still match to 1e-4.
    large, small = np.array([400.0, -2.0]), np.array([0.5, -0.25])
    assert relative_gap(large, large + np.array([1.5e-4, 0.0])) <= PARITY_TOLERANCE
    assert relative_gap(small, small + np.array([1.5e-4, 0.0])) > PARITY_TOLERANCE
    assert relative_gap(large, large + np.array([0.0, 3e-4])) > PARITY_TOLERANCE  # 1.5e-4 of 2


def test_failed_export_leaves_nothing_behind(
    smoke_run: tuple[Path, Path], tiny_manifest: Path, tmp_path
) -> None:
    run_dir, _ = smoke_run
    with pytest.raises(ExportError, match="differ by"):
        export(run_dir / "model.safetensors", tmp_path / "m" / "1", tiny_manifest, tolerance=-1.0)
    assert list((tmp_path / "m").iterdir()) == []
    (tmp_path / "m" / "2").mkdir()
    with pytest.raises(ExportError, match="immutable"):
        export(run_dir / "model.safetensors", tmp_path / "m" / "2", tiny_manifest)


def test_evaluating_the_bundle_matches_the_checkpoint(
    bundle: Path, smoke_run: tuple[Path, Path], tiny_manifest: Path
) -> None:
    run_dir, _ = smoke_run
    results = {}
    for key, path in (("torch", run_dir / "model.safetensors"), ("onnx", bundle)):
        predictions, dataset, model = predict_split(path, tiny_manifest, "all", workers=0)
        results[key] = compute_metrics(predictions, dataset, model.temperatures)
    for task, name in (("authenticity_item", "accuracy"), ("evidence", "accuracy"), ("view", "accuracy")):
        assert abs(results["torch"][task][name] - results["onnx"][task][name]) <= 0.001, task
    assert results["torch"]["evidence"]["roc_auc"] == pytest.approx(
        results["onnx"]["evidence"]["roc_auc"], abs=1e-3
    )


def _copy(bundle: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(bundle, target)
    return target


def test_loader_names_the_bundle_and_the_problem(bundle: Path, tmp_path: Path) -> None:
    truncated = _copy(bundle, tmp_path / "truncated")
    data = (truncated / MODEL_FILE).read_bytes()
    (truncated / MODEL_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match=r"truncated.*not a readable ONNX file"):
        Bundle(truncated)

    def rewrite(name: str, change) -> Path:
        target = _copy(bundle, tmp_path / name)
        proto = onnx.load(str(target / MODEL_FILE))
        change(proto)
        onnx.save(proto, str(target / MODEL_FILE))
        return target

    def metadata_change(edit):
        def apply(proto):
            meta = json.loads(next(p.value for p in proto.metadata_props if p.key == METADATA_KEY))
            edit(meta)
            del proto.metadata_props[:]
            onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta)})

        return apply

    wrong_taxonomy = rewrite(
        "taxonomy", metadata_change(lambda m: m["taxonomy"].update(taxonomy_hash="0" * 64))
    )
    with pytest.raises(BundleError, match=r"taxonomy.*does not"):
        Bundle(wrong_taxonomy)
    no_metadata = rewrite("bare", lambda proto: proto.metadata_props.__delitem__(slice(None)))
    with pytest.raises(BundleError, match=r"bare.*no secondlook metadata"):
        Bundle(no_metadata)
    old_format = rewrite("format", metadata_change(lambda m: m.update(format_version=99)))
    with pytest.raises(BundleError, match="bundle format 99"):
        Bundle(old_format)

    # Metadata edited after export: caught by its hash, and when re-hashed, by its meaning.
    def invert(meta) -> None:
        meta["temperatures"]["evidence"] = -1.0

    with pytest.raises(BundleError, match=r"inverted.*metadata does not match its recorded sha256"):
        Bundle(rewrite("inverted", metadata_change(invert)))

    def invert_and_rehash(meta) -> None:
        invert(meta)
        meta["metadata_sha256"] = metadata_sha256(meta)

    with pytest.raises(BundleError, match=r"rehashed.*temperature of evidence is -1.0"):
        Bundle(rewrite("rehashed", metadata_change(invert_and_rehash)))

    def rename_output(meta) -> None:
        meta["outputs"]["evidence"] = "nowhere"
        meta["metadata_sha256"] = metadata_sha256(meta)

    with pytest.raises(BundleError, match=r"outputs nowhere are not in the graph"):
        Bundle(rewrite("renamed", metadata_change(rename_output)))

    def tamper(proto) -> None:
        weights = next(t for t in proto.graph.initializer if t.raw_data and len(t.raw_data) > 16)
        raw = bytearray(weights.raw_data)
        raw[0] ^= 0xFF
        weights.raw_data = bytes(raw)

    with pytest.raises(BundleError, match=r"tampered.*sha256"):
        Bundle(rewrite("tampered", tamper))


def test_loader_never_imports_torch(bundle: Path, tiny_manifest: Path) -> None:
    code = (
        "import sys\n"
        "from data.decode import decode_image\n"
        "from data.manifest import read_manifest, resolve_image_path\n"
        "from serving.bundle import Bundle\n"
        "from serving.preprocess import preprocess_batch\n"
        f"b = Bundle({str(bundle)!r})\n"
        f"m = {str(tiny_manifest)!r}\n"
        "paths = [resolve_image_path(m, p) for p in read_manifest(m)['image_path'][:3]]\n"
        "out = b.predict(preprocess_batch([decode_image(p) for p in paths], b.spec))\n"
        "assert out.evidence.shape == (3,)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_int8_variant_is_measured_and_gated(bundle: Path, tiny_manifest: Path, tmp_path: Path) -> None:
    source = _copy(bundle, tmp_path / "reviewer_smoke" / "1")
    with pytest.raises(QuantizationRefused, match="refused") as refused:
        quantize(source, tiny_manifest, calib_photos=8, calib_split="all", max_loss_pp=-100.0, workers=0)
    assert "speed-up" in str(refused.value)
    assert sorted(p.name for p in source.parent.iterdir()) == ["1"]  # nothing written

    report = quantize(source, tiny_manifest, calib_photos=8, calib_split="all", max_loss_pp=100.0, workers=0)
    assert report.accepted and report.bundle == source.with_name("1-int8")
    int8 = Bundle(report.bundle)
    quantization = int8.metadata.quantization
    assert quantization is not None and quantization.format == "QDQ" and report.speedup > 0
    assert set(quantization.test_int8 or {}) == set(report.int8) and quantization.calibration_photos == 8
    assert (
        int8.metadata.version == "1-int8"
        and int8.metadata.graph_sha256 != Bundle(source).metadata.graph_sha256
    )
    ops = {node.op_type for node in onnx.load(str(report.bundle / MODEL_FILE)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert set(report.int8) == set(report.fp32)


def test_registry_promotes_atomically_and_resolves_aliases(bundle: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    _copy(bundle, root / "reviewer_smoke" / "1")
    assert read_registry(root) == {}
    with pytest.raises(RegistryError, match="promote a version"):
        resolve_bundle("reviewer_smoke@champion", root)
    promote("reviewer_smoke", "1", "champion", root)
    assert read_registry(root) == {"reviewer_smoke": {"champion": "1"}}
    assert resolve_bundle("reviewer_smoke@champion", root) == root / "reviewer_smoke" / "1"
    assert [r.aliases for r in list_bundles(root)] == [("champion",)]
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    with pytest.raises(RegistryError, match="cannot promote"):
        promote("reviewer_smoke", "7", "champion", root)
    assert read_registry(root) == {"reviewer_smoke": {"champion": "1"}}  # a failed promotion changes nothing
    with pytest.raises(RegistryError, match="alias must be"):
        promote("reviewer_smoke", "1", "favourite", root)


def test_registry_stays_inside_the_models_folder(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "models"
    _copy(bundle, root / "reviewer_smoke" / "1")
    outside = _copy(bundle, tmp_path / "outside" / "1")
    for name, version in (("reviewer_smoke", "../../outside/1"), ("..", "outside/1")):
        with pytest.raises(RegistryError, match="is not allowed"):
            promote(name, version, "champion", root)
    assert not (root / "registry.json").exists()
    # A hand-edited registry whose version climbs out of the folder is refused as a whole.
    (root / "registry.json").write_text(
        json.dumps({"format": 1, "models": {"reviewer_smoke": {"champion": "../../outside/1"}}})
    )
    with pytest.raises(RegistryError, match=r"registry.json: version '../../outside/1' is not allowed"):
        resolve_bundle("reviewer_smoke@champion", root)
    assert outside.is_dir()
    # A NAME/VERSION folder in the working directory does not shadow the registered bundle.
    monkeypatch.chdir(tmp_path)
    _copy(bundle, tmp_path / "reviewer_smoke" / "1")
    assert resolve_bundle("reviewer_smoke/1", root) == root / "reviewer_smoke" / "1"
    assert resolve_bundle(str(tmp_path / "outside" / "1"), root) == outside  # an explicit path still works


def test_models_cli_lists_shows_and_promotes(bundle: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    _copy(bundle, root / "reviewer_smoke" / "1")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "secondlook.cli", "models", "--models-dir", str(root), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    promoted = cli("promote", "reviewer_smoke", "1", "--alias", "champion")
    assert promoted.returncode == 0, promoted.stderr
    listed = cli("list")
    assert "reviewer_smoke/1  [champion]" in listed.stdout
    shown = cli("show", "reviewer_smoke@champion")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == "reviewer_smoke"
    missing = cli("show", "reviewer_smoke@challenger")
    assert missing.returncode == 1 and "Error:" in missing.stderr and "Traceback" not in missing.stderr


def test_export_cli_takes_an_mlflow_run_id(
    smoke_run: tuple[Path, Path], tiny_manifest: Path, tmp_path
) -> None:
    import os

    from training.checkpoint import read_metadata

    run_dir, store = smoke_run
    run_id = read_metadata(run_dir / "model.safetensors")["mlflow_run_id"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}

    def cli(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "secondlook.cli", "export", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)

    done = cli("--run", run_id, "--out", str(tmp_path / "r" / "1"), "--data", str(tiny_manifest))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "max |diff|" in done.stdout
    assert Bundle(tmp_path / "r" / "1").metadata.mlflow_run_id == run_id
    unknown = cli("--run", "0" * 32, "--out", str(tmp_path / "r" / "2"))
    assert (
        unknown.returncode == 1
        and "Error: MLflow run" in unknown.stderr
        and "Traceback" not in unknown.stderr
    )
    neither = cli("--out", str(tmp_path / "r" / "3"))
    assert neither.returncode == 2 and "exactly one of --checkpoint or --run" in neither.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["1"]


def test_policy_fit_writes_thresholds_with_their_data_and_models(
    bundle: Path, tiny_manifest: Path, tmp_path: Path
) -> None:
    import os

    from serving.verdict import load_policy

    root = tmp_path / "models"
    for name in ("reviewer_a", "reviewer_b"):
        _copy(bundle, root / name / "1")
        promote(name, "1", "champion", root)
    out = tmp_path / "verdict.yaml"
    command = [sys.executable, "-m", "secondlook.cli", "policy", "fit", "--data", str(tiny_manifest)]
    command += ["--split", "all", "--target-error", "0.005", "--out", str(out)]
    env = {**os.environ, "SECONDLOOK_MODELS_DIR": str(root)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "risk_upper_95" in result.stdout and "auto-decides" in result.stdout
    fitted = load_policy(out)
    assert fitted.fitted["data"]["items"] == 14 and fitted.fitted["target_error"] == 0.005
    assert fitted.fitted["models"]["reviewer_a"]["graph_sha256"] == Bundle(bundle).metadata.graph_sha256
    # 14 items cannot vouch for a 0.5% error rate: the fit decides nothing automatically
    assert fitted.fitted["coverage"] == 0.0
    assert load_policy("configs/verdict.yaml").fitted is None  # the shipped policy is untouched
    bad = subprocess.run([*command, "--model", "reviewer_c=x"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "REVIEWER=BUNDLE" in bad.stderr


def test_the_defect_summary_keeps_its_far_tail_under_onnxruntime(tmp_path: Path) -> None:
    """A photo with no defect has mask logits far below zero; the grade reads their log-probability,
    which must come out of onnxruntime as it does out of PyTorch (a plain F.logsigmoid did not)."""
    import onnxruntime as ort
    import torch

    from training.model import defect_summary

    class Summary(torch.nn.Module):
        def forward(self, logits: torch.Tensor) -> torch.Tensor:
            return defect_summary(logits)

    logits = torch.linspace(-20.0, -8.0, 2 * 5 * 16 * 16).reshape(2, 5, 16, 16)
    path = tmp_path / "summary.onnx"
    torch.onnx.export(Summary(), (logits,), dynamo=True, opset_version=18, verbose=False).save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    produced = session.run(None, {session.get_inputs()[0].name: logits.numpy()})[0]
    np.testing.assert_allclose(produced, defect_summary(logits).numpy(), atol=1e-4, rtol=0)


def test_the_evidence_of_a_clean_photo_keeps_its_precision_under_onnxruntime(tmp_path: Path) -> None:
    """Cue maps of a genuine photo sit far below zero at every cell; the evidence map that
    combines them must come out of onnxruntime as it does out of PyTorch."""
    import onnxruntime as ort
    import torch

    from training.cues import evidence_logit

    class Combine(torch.nn.Module):
        def forward(self, maps: torch.Tensor) -> torch.Tensor:
            return evidence_logit(maps, dim=1)

    maps = torch.linspace(-16.0, -6.0, 2 * 11 * 7 * 7).reshape(2, 11, 7, 7)
    path = tmp_path / "evidence.onnx"
    torch.onnx.export(Combine(), (maps,), dynamo=True, opset_version=18, verbose=False).save(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    produced = session.run(None, {session.get_inputs()[0].name: maps.numpy()})[0]
    np.testing.assert_allclose(produced, evidence_logit(maps, dim=1).numpy(), atol=1e-5, rtol=0)
