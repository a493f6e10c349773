"""CI guards the shipped champions (models/, ARCHITECTURE.md §9).

Each champion's bundle opens (graph and metadata hashes verified), agrees with today's exporter
on format, and, scored on a fresh render of a seed used nowhere else, holds its card: a figure
fails when its own 99.8% interval on the render lies wholly outside the card's 95% interval.
(A 300-item figure has sampling noise of its own, about ±0.03 of item ROC-AUC; asking it to
fall inside an interval measured on 2,000 items would fail by chance.) The last test shows
the guard failing on a champion whose bundle asks for the wrong normalisation.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from data.synthetic.config import SynthConfig
from data.synthetic.generate import generate
from data.taxonomy import load_taxonomy
from serving.bundle import (
    BUNDLE_FORMAT_VERSION,
    METADATA_KEY,
    MODEL_FILE,
    Bundle,
    embed_metadata,
    output_names,
)
from serving.preprocess import PreprocessSpec
from serving.registry import read_registry, resolve_bundle
from training.champions import POLICY_FILE, RECORD_FILE, ChampionRecord, guard_problems
from training.evaluate import compute_metrics, headline, headline_keys, predict_split
from training.intervals import headline_intervals

MODELS = Path("models")
GUARD_SEED = (
    3702  # rendered by this test only: not the champions' training (37), policy (3700) or test (3701)
)
GUARD_ITEMS = 300
GUARD_LEVEL = 0.998
REVIEWERS = ("reviewer_a", "reviewer_b")


def champion_dirs() -> list[Path]:
    registry = read_registry(MODELS)
    return [
        resolve_bundle(f"{name}@champion", MODELS)
        for name in REVIEWERS
        if "champion" in registry.get(name, {})
    ]


def test_both_champions_are_shipped_lean_and_in_todays_format() -> None:
    """Fast: no render. Today's loader opens each (hashes checked), the exporter would write the
    same format and outputs, and the shipped folder stays small and checkpoint-free."""
    dirs = champion_dirs()
    assert [d.parent.name for d in dirs] == list(REVIEWERS), "models/registry.json must name both champions"
    taxonomy = load_taxonomy()
    for directory in dirs:
        bundle = Bundle(directory)  # checks graph_sha256, metadata_sha256, format and taxonomy
        assert bundle.metadata.format_version == BUNDLE_FORMAT_VERSION
        assert bundle.metadata.taxonomy.taxonomy_hash == taxonomy.content_hash
        assert set(bundle.outputs.values()) == set(output_names(taxonomy))
        record = ChampionRecord.read(directory)
        assert record.name == directory.parent.name and record.version == directory.name
        assert set(record.heldout["intervals"]) == set(headline_keys())
        assert record.heldout["items"] >= 2000 and record.heldout["seed"] != GUARD_SEED
        assert record.training["data"]["seed"] not in (record.heldout["seed"], GUARD_SEED)
        assert sorted(p.name for p in directory.iterdir()) == sorted(
            ["card.md", "export.json", MODEL_FILE, RECORD_FILE]
        )
    assert (MODELS / POLICY_FILE).is_file()
    shipped = [p for p in MODELS.rglob("*") if p.is_file() and p.parent.name != "demo"]
    assert not [p for p in shipped if p.suffix in (".safetensors", ".pt", ".ckpt")]
    assert sum(p.stat().st_size for p in shipped) <= 40 * 2**20


@pytest.fixture(scope="module")
def guard_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = SynthConfig(items=GUARD_ITEMS, seed=GUARD_SEED, size=256, split_fractions=(0.0, 0.0, 1.0))
    return generate(config, tmp_path_factory.mktemp("guard"), progress=False)


def guard_figures(model: Path, manifest: Path) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
    predictions, dataset, evaluated = predict_split(model, manifest, "test", workers=0)
    figures = headline(compute_metrics(predictions, dataset, evaluated.temperatures))
    intervals = headline_intervals(
        predictions, dataset, evaluated.temperatures, level=GUARD_LEVEL, resamples=500
    )
    return figures, intervals


@pytest.mark.slow
@pytest.mark.parametrize("name", REVIEWERS)
def test_each_champion_holds_its_card_on_a_fresh_render(name: str, guard_render: Path) -> None:
    directory = resolve_bundle(f"{name}@champion", MODELS)
    figures, intervals = guard_figures(directory, guard_render)
    assert guard_problems(ChampionRecord.read(directory), figures, intervals) == []


@pytest.mark.slow
def test_the_guard_fails_a_champion_with_the_wrong_normalisation(guard_render: Path, tmp_path: Path) -> None:
    directory = resolve_bundle("reviewer_a@champion", MODELS)
    degraded = tmp_path / "reviewer_a" / "degraded"
    shutil.copytree(directory, degraded)
    proto = onnx.load(str(degraded / MODEL_FILE))
    metadata = Bundle(directory).metadata
    # the classic slip: the other convention's statistics (ImageNet's against Inception's 0.5)
    spec, imagenet, inception = metadata.preprocess, PreprocessSpec(), ((0.5,) * 3, (0.5,) * 3)
    other = (imagenet.mean, imagenet.std) if (spec.mean, spec.std) == inception else inception
    wrong = dataclasses.replace(spec, mean=other[0], std=other[1])
    assert isinstance(wrong, PreprocessSpec) and wrong != spec
    embed_metadata(proto, metadata.model_copy(update={"preprocess": wrong}))
    onnx.save(proto, str(degraded / MODEL_FILE))
    assert METADATA_KEY in {p.key for p in onnx.load(str(degraded / MODEL_FILE)).metadata_props}
    figures, intervals = guard_figures(degraded, guard_render)
    problems = guard_problems(ChampionRecord.read(directory), figures, intervals)
    assert problems, "the guard must fail a champion fed wrongly normalised photos"
    assert np.isfinite([figures[k] for k in headline_keys()]).all()
