"""`secondlook export`: a trained reviewer -> a verified, self-describing ONNX bundle.

The bundle folder (`models/NAME/VERSION/`) holds a single-file `model.onnx` (weights folded
in, dynamic batch, one named output per head plus class-activation maps) whose metadata
carries everything serving needs (see `serving.bundle`), and `card.md` for people.

Export works in a temporary folder beside the target and renames it into place only after
every check passed: `onnx.checker` (full check), batch 1 and 7 through onnxruntime, and
parity with PyTorch on real photos. A failed export leaves no bundle behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from data.decode import decode_image
from data.manifest import read_manifest, resolve_image_path
from data.taxonomy import Taxonomy, load_taxonomy
from secondlook.errors import MissingInput, SecondlookError
from serving.bundle import BUNDLE_FORMAT_VERSION, CARD_FILE, MODEL_FILE, Bundle, embed_metadata, output_names
from serving.bundle_metadata import BundleMetadata, Calibration, TaxonomyRef, Weights
from serving.preprocess import PreprocessSpec, preprocess_batch
from serving.tasks import CAM_PREFIX, CLASSIFICATION_TASKS, CUES, DEFECTS, EVIDENCE, ORDINAL_TASK
from training.checkpoint import specialist_views
from training.evaluate import load_reviewer
from training.model import Reviewer

OPSET = 18
# Outputs match within this share of the larger of 1 and their size: float32 keeps about 7
# digits, so a grade logit of a few hundred (a head fitted to a few items) may differ by 1e-4
# between onnxruntime's kernels and PyTorch's on one CPU and match on another.
PARITY_TOLERANCE = 1e-4
# What each graph output holds, for people reading the metadata.
OUTPUT_KINDS = {
    **{task: "logits" for task in CLASSIFICATION_TASKS},
    ORDINAL_TASK: "ordinal_logits (an item's grade: serving.condition)",
    EVIDENCE: "logit",
    CUES: "logits, one per counterfeit cue (taxonomy order)",
    DEFECTS: "probabilities_quarter_resolution",
    CAM_PREFIX + EVIDENCE: "class_activation_logits",
}


class ExportError(SecondlookError, ValueError):
    """The export could not be verified; nothing was written."""


class ExportGraph(nn.Module):
    """The reviewer as the bundle's graph: image batch in, one tensor per named output out."""

    def __init__(self, reviewer: Reviewer, names: list[str]) -> None:
        super().__init__()
        self.reviewer = reviewer
        self.names = names

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.reviewer.forward_with_cams(image)
        out[DEFECTS] = torch.sigmoid(out[DEFECTS])  # serving reads mask probabilities
        return tuple(out[name] for name in self.names)


@dataclass(frozen=True)
class ExportReport:
    bundle: Path
    parity_max_abs_diff: float
    parity_photos: int
    batch_sizes_checked: tuple[int, ...]
    graph_sha256: str


def sample_photos(manifest: Path, count: int, spec: PreprocessSpec) -> np.ndarray:
    """A fixed batch of real photos (test split first) through serving's preprocess."""
    frame = read_manifest(manifest)
    frame = frame.assign(_order=frame["split"].ne("test")).sort_values(["_order", "photo_id"], kind="stable")
    paths = [resolve_image_path(manifest, p) for p in frame["image_path"].head(count)]
    if not paths:
        raise ExportError(f"{manifest}: no photos to check the export with")
    return preprocess_batch([decode_image(p) for p in paths], spec)


def bundle_metadata(
    checkpoint_meta: dict[str, Any],
    taxonomy: Taxonomy,
    name: str,
    version: str,
    provenance: dict[str, str | None],
) -> BundleMetadata:
    """Everything serving needs, except the hashes (`embed_metadata` seals it once the graph is final)."""
    val = checkpoint_meta.get("val_metrics", {})
    model_config = checkpoint_meta["config"]["model"]
    return BundleMetadata(
        format_version=BUNDLE_FORMAT_VERSION,
        name=name,
        version=version,
        backbone=checkpoint_meta["backbone"],
        taxonomy=TaxonomyRef(**taxonomy.describe()),
        preprocess=PreprocessSpec.from_dict(checkpoint_meta["preprocess"]),
        outputs=output_names(taxonomy),
        output_kinds=OUTPUT_KINDS,
        temperatures=checkpoint_meta["temperatures"],
        calibration={
            task: Calibration(**row) for task, row in checkpoint_meta.get("calibration", {}).items()
        },
        defect_thresholds=checkpoint_meta.get("defect_thresholds", {}),
        mlflow_run_id=provenance.get("mlflow_run_id") or checkpoint_meta.get("mlflow_run_id"),
        git_sha=provenance.get("git_sha") or checkpoint_meta.get("git_sha"),
        data_manifest_sha256=provenance.get("data_manifest_sha256")
        or checkpoint_meta.get("data_manifest_sha256"),
        metrics=checkpoint_meta.get("val_calibrated")
        or {k: v for k, v in val.items() if k.startswith("val_")},
        weights=Weights(
            pretrained=bool(model_config.get("pretrained")),
            frozen_levels=int(model_config.get("frozen_levels", 0)),
        ),
        opset=OPSET,
    )


def _export_graph(model: Reviewer, names: list[str], size: int, path: Path) -> None:
    graph = ExportGraph(model, names).eval()
    example = torch.zeros(2, 3, size, size)
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        graph,
        (example,),
        dynamo=True,
        external_data=False,
        opset_version=OPSET,
        input_names=["image"],
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    assert program is not None, "the dynamo exporter always returns its ONNXProgram"
    program.save(str(path), external_data=False)
    import onnx

    proto = onnx.load(str(path))
    name_outputs(proto, names)
    onnx.save(proto, str(path))


def name_outputs(proto: Any, names: list[str]) -> None:
    """Give the graph's outputs their task names. (The exporter's own `output_names` can collide
    with an inner value it named after its op: a reshape called `view` beside the `view` head.)"""
    graph = proto.graph
    current = [output.name for output in graph.output]
    inner = {v for node in graph.node for v in node.output} | {v.name for v in graph.initializer}
    mapping = {value: f"{value}__inner" for value in inner if value in names and value not in current}
    mapping.update(zip(current, names, strict=True))
    for node in graph.node:
        node.input[:] = [mapping.get(v, v) for v in node.input]
        node.output[:] = [mapping.get(v, v) for v in node.output]
    for value in (*graph.output, *graph.value_info):
        value.name = mapping.get(value.name, value.name)
    for initializer in graph.initializer:
        initializer.name = mapping.get(initializer.name, initializer.name)


def _embed_metadata(path: Path, metadata: BundleMetadata) -> BundleMetadata:
    import onnx

    proto = onnx.load(str(path))
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise ExportError("the exporter left weights in an external file")
    sealed = embed_metadata(proto, metadata)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return sealed


def _torch_outputs(model: Reviewer, batch: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    with torch.no_grad():
        values = ExportGraph(model, names).eval()(torch.from_numpy(batch))
    return {name: v.numpy() for name, v in zip(names, values, strict=True)}


def relative_gap(reference: np.ndarray, produced: np.ndarray) -> float:
    """The largest difference between two outputs as a share of the larger of 1 and the
    reference's size: absolute for values below 1, relative above."""
    return float((np.abs(reference - produced) / np.maximum(1.0, np.abs(reference))).max())


def verify(
    bundle_dir: Path, model: Reviewer, photos: np.ndarray, names: list[str], tolerance: float
) -> tuple[float, tuple]:
    """Batch 1 and 7 run; every output matches PyTorch within `tolerance` times the larger of 1
    and its size. Returns the largest absolute difference."""
    bundle = Bundle(bundle_dir)
    checked = []
    for size in (1, 7):
        batch = photos[np.arange(size) % len(photos)]
        out = bundle.run(batch, with_cams=True)
        if any(v.shape[0] != size for v in out.values()):
            raise ExportError(f"batch {size} gave outputs of another batch size: dynamic batch is broken")
        checked.append(size)
    reference = _torch_outputs(model, photos, names)
    produced = bundle.run(photos, with_cams=True)
    gaps = {n: np.abs(reference[n] - produced[n]) for n in names}
    relative = {n: relative_gap(reference[n], produced[n]) for n in names}
    worst_name = max(relative, key=lambda n: relative[n])
    if not relative[worst_name] <= tolerance:
        raise ExportError(
            f"onnxruntime and PyTorch outputs differ by {relative[worst_name]:.2e} of their size on "
            f"{worst_name!r} (more than {tolerance:.0e})"
        )
    return max(float(gap.max()) for gap in gaps.values()), tuple(checked)


def write_card(bundle_dir: Path, metadata: BundleMetadata, report: dict[str, Any]) -> None:
    trained = metadata.weights
    weights = (
        f"fine-tuned from ImageNet weights, its first {trained.frozen_levels} feature levels frozen"
        if trained.pretrained
        else "trained from random weights"
    )
    lines = [
        f"# Model card: {metadata.name} {metadata.version}",
        "",
        "## Intended use",
        "One of the two independent reviewers behind secondlook's dual-review authenticity verdict: "
        "per photo, it predicts view, category, hardware type and finish, stamp type, condition "
        "grade, defect masks and the probability that the photo shows a counterfeit cue. It is a "
        "second opinion for appraisers, not a verdict on its own: the verdict policy combines two "
        "reviewers and refers uncertain items to human experts.",
        "",
        "## Model",
        f"- Backbone: `{metadata.backbone}`, {weights}; input "
        f"{metadata.preprocess.size} px ({metadata.preprocess.resize.value}), RGB, NCHW.",
        f"- Taxonomy {metadata.taxonomy.taxonomy_version} (hash `{metadata.taxonomy.taxonomy_hash[:16]}`).",
        f"- ONNX opset {metadata.opset}, dynamic batch; graph sha256 `{report['graph_sha256'][:16]}`.",
        "",
        "## Training data",
        f"- Manifest sha256 `{str(metadata.data_manifest_sha256)[:16]}`; MLflow run "
        f"`{metadata.mlflow_run_id}`; code at git `{str(metadata.git_sha)[:12]}`.",
        "",
        "## Validation metrics (the reviewer's own validation split, calibrated)",
        *[
            f"- {k.removeprefix('val_')}: {v:.4f}"
            for k, v in metadata.metrics.items()
            if isinstance(v, (int, float))
        ],
        "",
        "## Calibration (temperature scaling on validation)",
        "| head | temperature | ECE before | ECE after |",
        "|---|---|---|---|",
        *[
            f"| {head} | {v.temperature:.3f} | {v.ece_before:.4f} | {v.ece_after:.4f} |"
            for head, v in metadata.calibration.items()
        ],
        "",
        "## Export checks",
        f"- PyTorch vs onnxruntime on {report['parity_photos']} real photos: largest absolute "
        f"difference {report['parity_max_abs_diff']:.2e} (limit {PARITY_TOLERANCE:.0e} of the larger "
        "of 1 and the output's size).",
        f"- Batch sizes run: {', '.join(str(b) for b in report['batch_sizes_checked'])}.",
        "",
        "## Known limitations",
        "- Trained on the synthetic benchmark only; real photos differ in ways it has not seen.",
        "- Counterfeit cues it was not trained on are invisible to it; an item without visible cue "
        "is scored authentic by the noisy-OR aggregation.",
        "- See the evaluation report of the training run for per-cue miss rates; at the time of "
        "writing the demo profile reads views, hardware and stamps but tells counterfeits barely "
        "better than chance (README, Training results).",
    ]
    (bundle_dir / CARD_FILE).write_text("\n".join(lines) + "\n")


def checkpoint_from_run(run_id: str) -> Path:
    """Fetch `model.safetensors` of an MLflow run (local store or MLFLOW_TRACKING_URI)."""
    import mlflow

    from training.tracking import default_tracking_uri

    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri())
    try:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model.safetensors")
    except Exception as exc:  # MlflowException for unknown runs, OSError for missing artifacts
        raise MissingInput(f"MLflow run {run_id}: no model.safetensors artifact ({exc})") from None
    return Path(local)


def export(
    checkpoint: Path,
    out: Path,
    manifest: Path | None = None,
    parity_photos: int = 8,
    provenance: dict[str, str | None] | None = None,
    tolerance: float = PARITY_TOLERANCE,
) -> ExportReport:
    """Export `checkpoint` to the bundle folder `out` (must not exist yet); see the module doc."""
    out = Path(out)
    if out.exists():
        raise ExportError(f"{out} already exists: bundles are immutable, choose a new version")
    model, checkpoint_meta = load_reviewer(checkpoint)
    views = specialist_views(checkpoint_meta)
    if views:
        raise ExportError(
            f"{checkpoint} is a view specialist (data.views: {', '.join(views)}): the panel's "
            "reviewers score every photo of an item, so only reviewers trained on every view export"
        )
    taxonomy = load_taxonomy()
    spec = PreprocessSpec.from_dict(checkpoint_meta["preprocess"])
    manifest = Path(manifest or checkpoint_meta["config"]["data"]["manifest"])
    photos = sample_photos(manifest, parity_photos, spec)
    names = list(output_names(taxonomy))
    metadata = bundle_metadata(checkpoint_meta, taxonomy, out.parent.name, out.name, provenance or {})
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _export_graph(model, names, spec.size, work / MODEL_FILE)
        metadata = _embed_metadata(work / MODEL_FILE, metadata)
        digest = metadata.graph_sha256
        worst, sizes = verify(work, model, photos, names, tolerance)
        report = {
            "graph_sha256": digest,
            "parity_max_abs_diff": worst,
            "parity_photos": len(photos),
            "batch_sizes_checked": sizes,
        }
        write_card(work, metadata, report)
        (work / "export.json").write_text(json.dumps(report, indent=2) + "\n")
        work.chmod(0o755)  # mkdtemp makes it private; a bundle is meant to be read by servers
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return ExportReport(out, worst, len(photos), sizes, digest)
