"""The synthetic benchmark: determinism, label honesty, cue visibility, atomic writes."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from data.decode import decode_image
from data.manifest import parse_defects, read_manifest, resolve_image_path, split_list
from data.masks import cue_region, load_bitmask, load_mask
from data.synthetic.config import DIFFICULTIES, SynthConfig
from data.synthetic.generate import SUMMARY_NAME, generate
from data.synthetic.photo import develop, sample_shot
from data.synthetic.spec import SCREWED_HARDWARE, sample_item
from data.synthetic.textures import TextureBank
from data.synthetic.views import RENDERERS, Context
from data.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def _digest_tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != SUMMARY_NAME
    }


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    return generate(SynthConfig(items=24, seed=5, workers=2), out, progress=False)


def test_same_seed_same_bytes_whatever_the_workers(bench: Path, tmp_path: Path) -> None:
    again = generate(SynthConfig(items=24, seed=5, workers=1), tmp_path / "again", progress=False)
    assert _digest_tree(bench.parent) == _digest_tree(again.parent)


def test_another_seed_gives_other_photos(bench: Path, tmp_path: Path) -> None:
    other = generate(SynthConfig(items=3, seed=6, workers=1), tmp_path / "other", progress=False)
    first = read_manifest(bench).iloc[0]
    second = read_manifest(other).iloc[0]
    assert (bench.parent / first.image_path).read_bytes() != (other.parent / second.image_path).read_bytes()


def test_manifest_has_four_views_per_item_and_exact_counterfeit_share(bench: Path) -> None:
    frame = read_manifest(bench)
    assert len(frame) == 24 * 4
    assert (
        frame.groupby("item_id")["view"]
        .apply(lambda views: sorted(views) == sorted(TAXONOMY.view_names))
        .all()
    )
    per_item = frame.drop_duplicates("item_id")["authenticity"].value_counts()
    assert per_item["counterfeit"] == 12 and per_item["authentic"] == 12
    assert frame.groupby("item_id")["split"].nunique().eq(1).all()


def test_labels_follow_the_taxonomy_per_view(bench: Path) -> None:
    frame = read_manifest(bench)
    for task in TAXONOMY.tasks:
        if task.name == "defects":
            continue
        applies = frame["view"].isin(task.applies_to)
        assert frame.loc[applies, task.name].notna().all(), task.name
        assert frame.loc[~applies, task.name].isna().all(), (
            f"{task.name} labelled on a view it does not apply to"
        )
        assert set(frame.loc[applies, task.name]) <= set(task.classes)


def test_cues_are_listed_only_where_visible(bench: Path) -> None:
    frame = read_manifest(bench)
    for _, row in frame.iterrows():
        cues, item_cues = split_list(row.cues), split_list(row.item_cues)
        if row.authenticity == "authentic":
            assert cues == [] and item_cues == []
            continue
        assert 1 <= len(item_cues) <= 3
        assert set(cues) <= set(item_cues)
        assert cues == [c for c in item_cues if row.view in TAXONOMY.cue(c).visible_in]


def test_photos_and_masks_match_their_labels(bench: Path) -> None:
    frame = read_manifest(bench)
    defect_classes = TAXONOMY.classes("defects")
    assert frame["defects"].notna().all()
    with_masks = with_regions = 0
    for _, row in frame.iterrows():
        photo = decode_image(resolve_image_path(bench, row.image_path))
        assert photo.size == (256, 256)
        listed = parse_defects(row.defects)
        shows_cues = bool(split_list(row.cues))
        if not listed and not shows_cues:
            assert pd.isna(row.mask_path)
            continue
        packed = load_bitmask(resolve_image_path(bench, row.mask_path))
        mask = load_mask(resolve_image_path(bench, row.mask_path))
        assert mask.shape == (len(defect_classes), 256, 256)
        present = [c for i, c in enumerate(defect_classes) if mask[i].any()]
        assert present == sorted(set(listed), key=defect_classes.index)
        # The cue region: where the photo differs from its genuine twin, on cue photos only.
        assert cue_region(packed).any() == shows_cues
        with_masks += bool(listed)
        with_regions += shows_cues
    assert with_masks > 0 and with_regions > 0


def test_grade_a_items_have_no_defects_and_worn_items_do(bench: Path) -> None:
    frame = read_manifest(bench)
    detail = frame[frame["view"] == "detail"]
    grade_a = detail[detail["condition_grade"] == "A"]
    worn = detail[detail["condition_grade"].isin(["C", "D"])]
    assert (grade_a["defects"] == "none").all()
    assert (worn["defects"] != "none").mean() > 0.5


def test_summary_records_config_taxonomy_and_speed(bench: Path) -> None:
    import json

    summary = json.loads((bench.parent / SUMMARY_NAME).read_text())
    assert summary["photos"] == 96
    assert summary["taxonomy"]["taxonomy_hash"] == TAXONOMY.content_hash
    assert summary["manifest_sha256"] == hashlib.sha256(bench.read_bytes()).hexdigest()
    assert summary["photos_per_second"] > 0


def _photos(item, index: int, ctx: Context) -> dict[str, bytes]:
    level = DIFFICULTIES["standard"]
    photos = {}
    for view_index, view in enumerate(TAXONOMY.view_names):
        rng = np.random.default_rng([0, index, 2, view_index])
        photos[view] = develop(RENDERERS[view](item, rng, ctx), sample_shot(rng, level), rng)[0]
    return photos


@pytest.fixture(scope="module")
def context() -> Context:
    defects = TAXONOMY.classes("defects")
    return Context(256, TextureBank(0), {c: i for i, c in enumerate(defects)}, (0, 3))


@pytest.mark.parametrize("cue", TAXONOMY.cue_names)
def test_each_cue_changes_exactly_the_views_it_is_labelled_visible_in(cue: str, context: Context) -> None:
    """A counterfeit and its genuine twin differ only by the cue: honest per-photo cue labels."""
    level = DIFFICULTIES["standard"]
    index = next(
        i
        for i in range(50)
        if cue != "hardware_wrong_screw"
        or sample_item(i, 0, False, level, TAXONOMY).hardware_type in SCREWED_HARDWARE
    )
    genuine = sample_item(index, 0, False, level, TAXONOMY)
    fake = sample_item(index, 0, True, level, TAXONOMY, forced_cues=[cue])
    assert genuine.authentic and not fake.authentic and fake.cues == (cue,)
    before, after = _photos(genuine, index, context), _photos(fake, index, context)
    changed = {view for view in TAXONOMY.view_names if before[view] != after[view]}
    assert changed == set(TAXONOMY.cue(cue).visible_in)
    for view in changed:  # and the change is more than a rounding difference
        a = np.asarray(Image.open(io.BytesIO(before[view])), np.float32)
        b = np.asarray(Image.open(io.BytesIO(after[view])), np.float32)
        assert np.abs(a - b).max() > 8


@pytest.mark.parametrize("cue", TAXONOMY.cue_names)
def test_a_counterfeit_and_its_twin_are_framed_alike_and_differ_inside_the_cue_region(
    cue: str, context: Context
) -> None:
    """The cue may change how many letters or stitches there are, or fray an outline; that must
    not shift the random stream, or the twin would be framed differently and the cue region
    (what cue maps train on) would cover the whole photo."""
    level = DIFFICULTIES["standard"]
    view = TAXONOMY.cue(cue).visible_in[0]
    view_index = TAXONOMY.view_names.index(view)
    for index in range(50):
        genuine = sample_item(index, 0, False, level, TAXONOMY)
        if cue != "hardware_wrong_screw" or genuine.hardware_type in SCREWED_HARDWARE:
            break
    fake = sample_item(index, 0, True, level, TAXONOMY, forced_cues=[cue])
    photos, shots = [], []
    for item in (genuine, fake):
        rng = np.random.default_rng([0, index, 2, view_index])
        scene = RENDERERS[view](item, rng, context)
        if item is fake:
            scene.mark_cue_region(
                RENDERERS[view](genuine, np.random.default_rng([0, index, 2, view_index]), context)
            )
        shots.append(sample_shot(rng, level))
        jpeg, packed = develop(scene, shots[-1], rng)
        photos.append(np.asarray(Image.open(io.BytesIO(jpeg)), np.float32))
    assert shots[0] == shots[1]
    region = cue_region(packed)
    assert 0 < region.mean() < 0.5
    near = np.asarray(Image.fromarray(region.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(17))) > 0
    difference = np.abs(photos[0] - photos[1]).max(axis=2)
    assert difference.max() > 8
    changed = difference > 12
    assert (changed & ~near).mean() < 0.002, "the photos differ far from the cue region"


def test_unknown_forced_cue_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown counterfeit cue"):
        sample_item(0, 0, True, DIFFICULTIES["standard"], TAXONOMY, forced_cues=["glitter"])


@pytest.mark.parametrize(
    ("field", "value"),
    [("items", 0), ("difficulty", "brutal"), ("size", 64), ("counterfeit_rate", 1.5), ("workers", -1)],
)
def test_config_rejects_bad_values_naming_them(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field.split("_")[0]):
        SynthConfig(**{field: value})


def test_a_killed_run_leaves_no_manifest_pointing_at_missing_files(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    out.mkdir()
    (out / "manifest.csv").write_text("photo_id,item_id,image_path\nold,old,images/old.jpg\n")
    code = (
        "from data.synthetic.generate import generate; from data.synthetic.config import SynthConfig; "
        f"generate(SynthConfig(items=400, seed=1, workers=1), {str(out)!r}, progress=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(out.rglob("*.jpg"))) < 8:
            time.sleep(0.05)
        assert len(list(out.rglob("*.jpg"))) >= 8, "generation did not start"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert not (out / "manifest.csv").exists(), "the stale manifest must go before any photo is written"
    assert not (out / SUMMARY_NAME).exists()
    assert not list(out.rglob("*.tmp")) or all(p.name.startswith(".") for p in out.rglob("*.tmp"))
