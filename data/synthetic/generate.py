"""Building a benchmark: items in parallel, photos and masks on disk, a manifest last.

Determinism: every random draw comes from a generator seeded by (seed, item, purpose),
and the texture bank by the seed alone, so the bytes do not depend on the number of
workers or the order they finish in. Atomicity: an old manifest is removed before any
photo is written, each photo lands by rename, and the new manifest is written (atomically)
only after every photo is on disk, so a killed run never leaves a manifest that points
at missing files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from data.atomic import atomic_write_bytes, atomic_write_text
from data.manifest import format_defects, join_list, write_manifest
from data.splits import split_for_item
from data.synthetic.config import GENERATOR_VERSION, SynthConfig
from data.synthetic.photo import develop, sample_shot
from data.synthetic.spec import ItemSpec, sample_item
from data.synthetic.studio import Context
from data.synthetic.textures import TextureBank
from data.synthetic.views import RENDERERS
from data.taxonomy import Taxonomy, load_taxonomy

SUMMARY_NAME = "benchmark.json"

_worker: dict[str, Any] = {}


def _init_worker(config: SynthConfig, out_dir: str) -> None:
    taxonomy = load_taxonomy()
    defects = taxonomy.classes("defects")
    _worker.update(
        config=config,
        out_dir=Path(out_dir),
        taxonomy=taxonomy,
        context=Context(
            config.size,
            TextureBank(config.seed, config.size),
            {c: i for i, c in enumerate(defects)},
            config.level.clutter,
        ),
    )


def _counterfeit_flags(config: SynthConfig) -> np.ndarray:
    """Exactly round(items * rate) counterfeits, at positions fixed by the seed."""
    n_counterfeit = round(config.items * config.counterfeit_rate)
    order = np.random.default_rng([config.seed, 0]).permutation(config.items)
    return order < n_counterfeit


def _photo_row(item: ItemSpec, view: str, taxonomy: Taxonomy, config: SynthConfig) -> dict[str, Any]:
    def label(task: str, value: str) -> str | None:
        return value if taxonomy.applies(task, view) else None

    cues = [c for c in item.cues if view in taxonomy.cue(c).visible_in]
    return {
        "photo_id": f"{item.item_id}-{view}",
        "item_id": item.item_id,
        "split": split_for_item(item.item_id, config.seed, config.split_fractions),
        "view": view,
        "category": item.category,
        "hardware_type": label("hardware_type", item.hardware_type),
        "hardware_finish": label("hardware_finish", item.hardware_finish),
        "stamp_type": label("stamp_type", item.stamp_type),
        "condition_grade": label("condition_grade", item.condition_grade),
        "authenticity": "authentic" if item.authentic else "counterfeit",
        "cues": join_list(cues) or None,
        "item_cues": join_list(item.cues) or None,
        "declared_value": item.declared_value,
        "source": "synth",
        "brand": item.brand.name,
        "difficulty": config.difficulty,
    }


def render_item(task: tuple[int, bool]) -> list[dict[str, Any]]:
    """Render and write the photos of one item; returns its manifest rows (worker side)."""
    index, counterfeit = task
    config: SynthConfig = _worker["config"]
    taxonomy: Taxonomy = _worker["taxonomy"]
    context: Context = _worker["context"]
    out_dir: Path = _worker["out_dir"]
    defect_names = taxonomy.classes("defects")
    item = sample_item(index, config.seed, counterfeit, config.level, taxonomy)
    # The genuine twin: the same item without its cues. Where a photo's scene differs from the
    # twin's is the cue region, stored in the photo's mask (`Scene.mark_cue_region`).
    twin = sample_item(index, config.seed, False, config.level, taxonomy) if item.cues else None
    shard = f"{index // 1000:04d}"
    rows = []
    for view_index, view in enumerate(taxonomy.view_names):
        view_seed = [config.seed, index, 2, view_index]
        rng = np.random.default_rng(view_seed)
        scene = RENDERERS[view](item, rng, context)
        if twin is not None and set(item.cues) & set(taxonomy.cues_visible_in(view)):
            scene.mark_cue_region(RENDERERS[view](twin, np.random.default_rng(view_seed), context))
        shot = sample_shot(rng, config.level)
        jpeg, bitmask = develop(scene, shot, rng)
        image_rel = f"images/{shard}/{item.item_id}-{view}.jpg"
        # Unlink first: renaming over an old file makes ext4 flush it synchronously (auto_da_alloc).
        (out_dir / image_rel).unlink(missing_ok=True)
        atomic_write_bytes(out_dir / image_rel, jpeg, durable=False)
        bits_set = int(np.bitwise_or.reduce(bitmask, axis=None))
        present = [name for i, name in enumerate(defect_names) if bits_set >> i & 1]
        row = _photo_row(item, view, taxonomy, config)
        row.update(
            image_path=image_rel,
            defects=format_defects(present),
            mask_path=None,
            blur_sigma=round(shot.blur_sigma, 4),
            exposure=round(shot.exposure, 4),
            noise_sigma=round(shot.noise_sigma, 4),
            jpeg_quality=shot.jpeg_quality,
            color_temperature=round(shot.kelvin, 1),
        )
        if bits_set:
            mask_rel = f"masks/{shard}/{item.item_id}-{view}.png"
            (out_dir / mask_rel).unlink(missing_ok=True)
            buffer = _png_bytes(Image.fromarray(bitmask, mode="L"))
            atomic_write_bytes(out_dir / mask_rel, buffer, durable=False)
            row["mask_path"] = mask_rel
        rows.append(row)
    return rows


def _png_bytes(image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def generate(config: SynthConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Build the benchmark in `out_dir`; returns the manifest path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / config.manifest_name
    for stale in (manifest_path, out_dir / SUMMARY_NAME):
        stale.unlink(missing_ok=True)

    flags = _counterfeit_flags(config)
    tasks = [(i, bool(flags[i])) for i in range(config.items)]
    workers = config.workers or os.cpu_count() or 1
    workers = max(1, min(workers, config.items))
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=config.items * 4, unit="photo", desc="rendering", disable=not progress, smoothing=0.1)
    if workers == 1:
        _init_worker(config, str(out_dir))
        for task in tasks:
            rows.extend(render_item(task))
            bar.update(4)
    else:
        # Never a plain fork: the caller may hold threads (onnxruntime, a server, a notebook's
        # kernel), and a child forked while one of them holds a lock waits on it forever (it
        # hung a test run whose worker had served the app in process). forkserver forks from
        # a clean single-threaded process.
        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with context.Pool(workers, initializer=_init_worker, initargs=(config, str(out_dir))) as pool:
            for item_rows in pool.imap(
                render_item, tasks, chunksize=max(1, min(8, config.items // (workers * 8)))
            ):
                rows.extend(item_rows)
                bar.update(len(item_rows))
    bar.close()
    elapsed = time.perf_counter() - started

    os.sync()  # every photo durable before the manifest that names them
    frame = pd.DataFrame(rows)
    write_manifest(frame, manifest_path)
    summary = {
        "generator_version": GENERATOR_VERSION,
        "config": asdict(config),
        "taxonomy": load_taxonomy().describe(),
        "items": config.items,
        "photos": len(frame),
        "counterfeit_items": int(flags.sum()),
        "split_items": {
            split: int(n) for split, n in frame.drop_duplicates("item_id")["split"].value_counts().items()
        },
        "manifest": config.manifest_name,
        "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest(),
        "workers": workers,
        "seconds": round(elapsed, 2),
        "photos_per_second": round(len(frame) / elapsed, 1),
        "photos_per_second_per_worker": round(len(frame) / elapsed / workers, 1),
    }
    atomic_write_text(out_dir / SUMMARY_NAME, json.dumps(summary, indent=2) + "\n")
    return manifest_path
