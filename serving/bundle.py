"""Model bundles: a single-file `model.onnx` that carries everything serving needs.

The exporter (training side) and this loader (serving side, no torch) share this module's
contract: one `BundleMetadata` (serving.bundle_metadata), stored as JSON under the `secondlook`
key of the ONNX file's metadata_props, holding the bundle format version, the taxonomy version
and hash, the preprocess spec, the output names per task, the calibration temperatures,
provenance (MLflow run, git sha, data manifest hash), headline metrics and the sha256 of the graph.

The loader checks format, taxonomy and graph hash before it builds an onnxruntime session,
and turns raw outputs into calibrated, typed per-task results.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from data.taxonomy import Taxonomy, load_taxonomy
from secondlook.errors import SecondlookError
from serving.bundle_metadata import SEALS, BundleMetadata, MetadataError, metadata_sha256
from serving.probabilities import ordinal_probabilities, sigmoid, softmax
from serving.tasks import CAM_PREFIX, CLASSIFICATION_TASKS, CUES, DEFECTS, EVIDENCE, ORDINAL_TASK

BUNDLE_FORMAT_VERSION = 3  # 2: a category head, a CAM for the evidence; 3: metadata_sha256
METADATA_KEY = "secondlook"
MODEL_FILE = "model.onnx"
CARD_FILE = "card.md"

# The mask probability from which a photo shows a defect class, when a bundle has no fitted one.
DEFECT_THRESHOLD = 0.5


class BundleError(SecondlookError, ValueError):
    """A bundle that cannot be served; the message names the bundle and what is wrong."""


def graph_sha256(model_proto: Any) -> str:
    """sha256 of the serialized graph (weights included, metadata_props excluded)."""
    return hashlib.sha256(model_proto.graph.SerializeToString()).hexdigest()


def embed_metadata(model_proto: Any, metadata: BundleMetadata) -> BundleMetadata:
    """Replace the model's secondlook metadata with `metadata` sealed by the graph's sha256 and
    the metadata's own sha256 (any it carried are replaced); returns the sealed metadata.

    The one writer of the contract `Bundle` reads, used by export and quantization."""
    import onnx

    body = {k: v for k, v in metadata.to_dict().items() if k not in SEALS}
    body["graph_sha256"] = graph_sha256(model_proto)
    body["metadata_sha256"] = metadata_sha256(body)
    sealed = BundleMetadata.from_dict(body)  # what is written reads back as it was given
    del model_proto.metadata_props[:]
    onnx.helper.set_model_props(model_proto, {METADATA_KEY: json.dumps(body)})
    return sealed


def metadata_problems(metadata: BundleMetadata, graph_outputs: set[str]) -> list[str]:
    """What makes the serving part of a bundle's metadata unusable (empty when nothing).

    Checked whatever the hash says: a non-positive or non-finite temperature inverts or
    erases every score, an output mapped to a name the graph lacks fails at the first run."""
    problems = []
    for task, value in metadata.temperatures.items():
        if not math.isfinite(value) or value <= 0:
            problems.append(f"temperature of {task} is {value!r} (must be a finite number above 0)")
    required = (*CLASSIFICATION_TASKS, ORDINAL_TASK, EVIDENCE, DEFECTS)
    missing = [task for task in required if task not in metadata.outputs]
    if missing:
        problems.append(f"no output for {', '.join(missing)}")
    unknown = sorted(name for name in metadata.outputs.values() if name not in graph_outputs)
    if unknown:
        problems.append(f"outputs {', '.join(unknown)} are not in the graph")
    for name, value in metadata.defect_thresholds.items():
        if not 0.0 <= value <= 1.0:
            problems.append(f"defect threshold of {name} is {value!r} (must be in [0, 1])")
    return problems


def output_names(taxonomy: Taxonomy) -> dict[str, str]:
    """The graph's output name for every task head and the evidence's class-activation map."""
    names = {task: task for task in (*CLASSIFICATION_TASKS, ORDINAL_TASK, EVIDENCE, CUES, DEFECTS)}
    names[CAM_PREFIX + EVIDENCE] = CAM_PREFIX + EVIDENCE  # where a photo's evidence lies
    return names


@dataclass
class Predictions:
    """Calibrated per-photo results of one bundle on a batch (rows = photos)."""

    probabilities: dict[str, np.ndarray]  # task -> (N, K) class probabilities
    evidence: np.ndarray  # (N,) P(photo shows a counterfeit cue)
    defects: np.ndarray  # (N, D, h, w) mask probabilities
    grade_logits: np.ndarray  # (N, K-1) ordinal logits; an item's grade is `serving.condition`'s
    cams: dict[str, np.ndarray] = field(default_factory=dict)  # task -> (N, K, h', w')

    def labels(self, task: str, taxonomy: Taxonomy) -> list[str]:
        classes = taxonomy.classes(task)
        return [classes[i] for i in self.probabilities[task].argmax(1)]

    def rows(self, rows: slice) -> Predictions:
        """The predictions of some photos of the batch."""
        return Predictions(
            {task: p[rows] for task, p in self.probabilities.items()},
            self.evidence[rows],
            self.defects[rows],
            self.grade_logits[rows],
            {task: c[rows] for task, c in self.cams.items()},
        )

    @staticmethod
    def concatenate(parts: Sequence[Predictions]) -> Predictions:
        """One set of predictions from consecutive batches."""
        return Predictions(
            {task: np.concatenate([p.probabilities[task] for p in parts]) for task in parts[0].probabilities},
            np.concatenate([p.evidence for p in parts]),
            np.concatenate([p.defects for p in parts]),
            np.concatenate([p.grade_logits for p in parts]),
            {task: np.concatenate([p.cams[task] for p in parts]) for task in parts[0].cams},
        )


def usable_cores() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Bundle:
    """An opened, verified model bundle with its onnxruntime session.

    Sessions are built once (they are thread-safe for `run`); providers are chosen from what
    this machine has (CUDA when present, else CPU), intra-op threads sized to the cores.
    """

    def __init__(
        self, path: str | Path, taxonomy: Taxonomy | None = None, threads: int | None = None
    ) -> None:
        import onnx
        import onnxruntime as ort

        self.path = Path(path)
        model_file = self.path / MODEL_FILE if self.path.is_dir() else self.path
        self.directory = model_file.parent
        if not model_file.is_file():
            raise BundleError(
                f"{self.path}: no {MODEL_FILE} (is this a bundle folder from `secondlook export`?)"
            )
        try:
            proto = onnx.load(str(model_file), load_external_data=False)
        except Exception as exc:  # onnx raises DecodeError and friends for a damaged file
            raise BundleError(
                f"{model_file}: not a readable ONNX file ({type(exc).__name__}: {exc})"
            ) from None
        props = {p.key: p.value for p in proto.metadata_props}
        if METADATA_KEY not in props:
            raise BundleError(f"{model_file}: no secondlook metadata; export it with `secondlook export`")
        try:
            raw = json.loads(props[METADATA_KEY])
        except json.JSONDecodeError as exc:
            raise BundleError(f"{model_file}: damaged secondlook metadata ({exc})") from None
        self.metadata = self._check(model_file, proto, raw, taxonomy or load_taxonomy())
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or usable_cores()
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: a panel runs its reviewers' sessions back to back, and
        # each session's idle threads spinning on the cores the next one needs slowed an A+B
        # call of 12 photos from 118 to 170 ms on a busy 2-core machine (see README, Performance).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.session = ort.InferenceSession(proto.SerializeToString(), options, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.spec = self.metadata.preprocess
        self.temperatures: dict[str, float] = {k: float(v) for k, v in self.metadata.temperatures.items()}
        self.outputs: dict[str, str] = dict(self.metadata.outputs)
        # Per defect class, the mask probability from which a photo is said to show it.
        self.defect_thresholds: dict[str, float] = {
            k: float(v) for k, v in self.metadata.defect_thresholds.items()
        }

    @staticmethod
    def _check(model_file: Path, proto: Any, raw: object, taxonomy: Taxonomy) -> BundleMetadata:
        """The bundle's typed metadata, once format, keys, taxonomy, both hashes and meaning hold."""
        version = raw.get("format_version") if isinstance(raw, dict) else None
        if not isinstance(raw, dict) or version != BUNDLE_FORMAT_VERSION:
            raise BundleError(
                f"{model_file}: bundle format {version!r}; this secondlook reads "
                f"format {BUNDLE_FORMAT_VERSION} (re-export it with `secondlook export`)"
            )
        try:
            meta = BundleMetadata.from_dict(raw)
        except MetadataError as exc:
            raise BundleError(f"{model_file}: {exc}") from None
        if meta.taxonomy.taxonomy_hash != taxonomy.content_hash:
            raise BundleError(
                f"{model_file}: trained on taxonomy {meta.taxonomy.taxonomy_version} "
                f"(hash {meta.taxonomy.taxonomy_hash[:12]}), which this server does not "
                f"understand (it has {taxonomy.version}, hash {taxonomy.content_hash[:12]})"
            )
        if graph_sha256(proto) != meta.graph_sha256:
            raise BundleError(
                f"{model_file}: graph does not match its recorded sha256 (file altered or damaged)"
            )
        # Over the mapping as read, the very JSON the writer hashed (from_dict checked that it
        # holds nothing the typed metadata leaves out).
        if meta.metadata_sha256 != metadata_sha256(raw):
            raise BundleError(
                f"{model_file}: metadata does not match its recorded sha256 (edited after export); "
                "re-export the bundle"
            )
        problems = metadata_problems(meta, {o.name for o in proto.graph.output})
        if problems:
            raise BundleError(f"{model_file}: unusable metadata: {'; '.join(problems)}")
        return meta

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    def run(self, batch: np.ndarray, with_cams: bool = False) -> dict[str, np.ndarray]:
        """Raw outputs for a preprocessed (N, 3, S, S) float32 batch, by task name."""
        wanted = {
            task: name for task, name in self.outputs.items() if with_cams or not task.startswith(CAM_PREFIX)
        }
        values = self.session.run(
            list(wanted.values()), {self.input_name: np.ascontiguousarray(batch, np.float32)}
        )
        return dict(zip(wanted, values, strict=True))

    def predict(self, batch: np.ndarray, with_cams: bool = False) -> Predictions:
        """Calibrated probabilities per task (temperatures from the bundle) for a preprocessed batch."""
        raw = self.run(batch, with_cams)
        t = self.temperatures
        probabilities = {task: softmax(raw[task], t.get(task, 1.0)) for task in CLASSIFICATION_TASKS}
        probabilities[ORDINAL_TASK] = ordinal_probabilities(raw[ORDINAL_TASK], t.get(ORDINAL_TASK, 1.0))
        return Predictions(
            probabilities=probabilities,
            evidence=sigmoid(raw[EVIDENCE] / t.get(EVIDENCE, 1.0)),
            defects=raw[DEFECTS],
            grade_logits=raw[ORDINAL_TASK],
            cams={k[len(CAM_PREFIX) :]: v for k, v in raw.items() if k.startswith(CAM_PREFIX)},
        )
