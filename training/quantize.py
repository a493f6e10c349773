"""`secondlook quantize`: a static INT8 (QDQ) variant of a bundle, kept only if accuracy holds.

Calibration photos come from a manifest through serving's preprocess; onnxruntime's static
quantizer writes QDQ nodes with per-channel weights. Both bundles are then evaluated on the
same test photos; when the INT8 one loses more than `max_loss_pp` percentage points on any
accuracy (item authenticity, photo evidence, view, hardware, stamp, condition grade), it is
refused and nothing is written. The speed-up is measured side by side on the same batch and threads.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data.decode import decode_image
from data.manifest import read_manifest, resolve_image_path
from secondlook.errors import InputError, SecondlookError
from serving.bundle import CARD_FILE, MODEL_FILE, Bundle, embed_metadata
from serving.bundle_metadata import BundleMetadata, Quantization
from serving.preprocess import preprocess
from serving.tasks import CLASSIFICATION_TASKS, EVIDENCE, ORDINAL_TASK

# Every accuracy appraisers see is gated, not only the authenticity headline.
GATED_METRICS = (
    ("authenticity_item", "accuracy"),
    (EVIDENCE, "accuracy"),
    *((task, "accuracy") for task in CLASSIFICATION_TASKS),
    (ORDINAL_TASK, "exact"),
)


class QuantizationRefused(SecondlookError, ValueError):
    """The INT8 variant lost too much accuracy; the message holds the comparison."""


@dataclass(frozen=True)
class QuantizeReport:
    bundle: Path | None
    fp32: dict[str, float]
    int8: dict[str, float]
    speedup: float
    max_loss_pp: float
    accepted: bool

    def table(self) -> str:
        rows = [f"{'metric':<28}{'fp32':>8}{'int8':>8}{'change (pp)':>13}"]
        for key in self.fp32:
            change = 100 * (self.int8[key] - self.fp32[key])
            rows.append(f"{key:<28}{self.fp32[key]:>8.4f}{self.int8[key]:>8.4f}{change:>+13.2f}")
        rows.append(f"speed-up (batch 16, same threads): {self.speedup:.2f}x")
        return "\n".join(rows)


def calibration_batches(manifest: Path, bundle: Bundle, photos: int, split: str, batch: int = 8):
    """Preprocessed calibration batches from a manifest's split (all rows if the split is empty)."""
    frame = read_manifest(manifest)
    chosen = frame[frame["split"] == split]
    frame = chosen if not chosen.empty else frame
    frame = frame.sample(n=min(photos, len(frame)), random_state=0)
    arrays = [
        preprocess(decode_image(resolve_image_path(manifest, p)), bundle.spec) for p in frame["image_path"]
    ]
    if not arrays:
        raise InputError(f"{manifest}: no photos to calibrate with")
    return [np.stack(arrays[i : i + batch]) for i in range(0, len(arrays), batch)]


def _quantize_file(source: Path, target: Path, input_name: str, batches: list[np.ndarray]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.items, None)
            return None if batch is None else {input_name: batch}

    prepared = target.with_name("prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_static(
        str(prepared),
        str(target),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    prepared.unlink()


def _embed(target: Path, metadata: BundleMetadata) -> None:
    import onnx

    proto = onnx.load(str(target))
    embed_metadata(proto, metadata)
    onnx.save(proto, str(target))


def int8_variant(fp32: Bundle, batches: list[np.ndarray], folder: Path, version: str = "int8") -> Bundle:
    """The static INT8 (QDQ) variant of `fp32` in `folder`, calibrated on `batches`, with no
    accuracy gate (`quantize` adds it; `secondlook bench` measures both side by side)."""
    folder.mkdir(parents=True, exist_ok=True)
    _quantize_file(fp32.directory / MODEL_FILE, folder / MODEL_FILE, fp32.input_name, batches)
    _embed(
        folder / MODEL_FILE,
        fp32.metadata.model_copy(update={"version": version, "quantization": Quantization(format="QDQ")}),
    )
    return Bundle(folder)


def speedup(fp32: Bundle, int8: Bundle, batch: np.ndarray, repeats: int = 7) -> float:
    """Median latency ratio fp32/int8 on one batch, the two runs interleaved to share noise."""
    times: dict[str, list[float]] = {"fp32": [], "int8": []}
    for bundle in (fp32, int8):
        bundle.run(batch)  # warm-up
    for _ in range(repeats):
        for key, bundle in (("fp32", fp32), ("int8", int8)):
            started = time.perf_counter()
            bundle.run(batch)
            times[key].append(time.perf_counter() - started)
    return statistics.median(times["fp32"]) / statistics.median(times["int8"])


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {f"{task}.{name}": float(metrics[task][name]) for task, name in GATED_METRICS}


def quantize(
    bundle_dir: Path,
    calib_manifest: Path,
    out: Path | None = None,
    test_manifest: Path | None = None,
    max_loss_pp: float = 0.5,
    calib_photos: int = 64,
    calib_split: str = "val",
    workers: int = 2,
) -> QuantizeReport:
    from training.evaluate import compute_metrics, predict_split

    bundle_dir = Path(bundle_dir)
    fp32 = Bundle(bundle_dir)
    out = Path(out) if out is not None else bundle_dir.with_name(f"{bundle_dir.name}-int8")
    if out.exists():
        raise InputError(f"{out} already exists: bundles are immutable, choose another --out")
    batches = calibration_batches(calib_manifest, fp32, calib_photos, calib_split)
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        int8 = int8_variant(fp32, batches, work, version=out.name)
        test_manifest = Path(test_manifest or calib_manifest)
        scores = {}
        for key, path in (("fp32", fp32.directory), ("int8", work)):
            predictions, dataset, model = predict_split(path, test_manifest, "test", workers)
            scores[key] = _headline(compute_metrics(predictions, dataset, model.temperatures))
        ratio = speedup(fp32, int8, np.concatenate(batches)[:16])
        losses = {
            f"{t}.{n}": 100 * (scores["fp32"][f"{t}.{n}"] - scores["int8"][f"{t}.{n}"])
            for t, n in GATED_METRICS
        }
        accepted = all(loss <= max_loss_pp for loss in losses.values())
        report = QuantizeReport(
            out if accepted else None, scores["fp32"], scores["int8"], ratio, max_loss_pp, accepted
        )
        if not accepted:
            raise QuantizationRefused(
                f"INT8 variant refused: it loses more than {max_loss_pp} pp on the test split\n"
                + report.table()
            )
        quantization = Quantization(
            format="QDQ",
            weights="int8 per channel",
            activations="uint8",
            calibration_manifest=str(calib_manifest),
            calibration_photos=int(sum(len(b) for b in batches)),
            source_bundle=str(bundle_dir),
            test_fp32=scores["fp32"],
            test_int8=scores["int8"],
            speedup_batch16=ratio,
            max_loss_pp=max_loss_pp,
        )
        metadata = fp32.metadata.model_copy(update={"version": out.name, "quantization": quantization})
        _embed(work / MODEL_FILE, metadata)
        Bundle(work)  # the final file opens and verifies
        card = (fp32.directory / CARD_FILE).read_text() if (fp32.directory / CARD_FILE).exists() else ""
        (work / CARD_FILE).write_text(
            card
            + "\n## INT8 variant\nStatic QDQ quantization (int8 per-channel weights, uint8 activations), "
            f"calibrated on {quantization.calibration_photos} photos.\n\n```\n{report.table()}\n```\n"
        )
        (work / "quantize.json").write_text(
            json.dumps(quantization.model_dump(exclude_unset=True), indent=2) + "\n"
        )
        work.chmod(0o755)
        os.rename(work, out)
        return report
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
