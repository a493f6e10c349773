"""The CI guard's rule and the champion card, on made-up records (no model needed)."""

from __future__ import annotations

from training.champions import ChampionRecord, card_text, guard_problems


def _record() -> ChampionRecord:
    return ChampionRecord(
        name="reviewer_a",
        version="2026-12-07",
        training={
            "command": "scripts/champions train",
            "config_file": "configs/train/reviewer_a_champion.yaml",
            "data": {
                "generator_version": "2",
                "seed": 37,
                "items": 10000,
                "train_items": 9814,
                "difficulty": "standard",
                "size": 256,
                "manifest_sha256": "c" * 64,
            },
            "best_epoch": 2,
            "epochs_planned": 8,
            "photos_seen": 70000,
            "git_sha": "abc",
            "machine": "AMD EPYC, 1 threads (avx2)",
            "wall_seconds": 5400.0,
        },
        heldout={
            "seed": 3701,
            "items": 2000,
            "photos": 8000,
            "figures": {"view": 0.999, "item_auc": 0.71},
            "intervals": {"view": [0.998, 1.0], "item_auc": [0.69, 0.73]},
            "majority_class": {"view": 0.25, "item_auc": 0.5},
            "pixels": {"view": 0.742, "item_auc": 0.551},
        },
    )


def test_a_render_whose_interval_reaches_the_card_passes() -> None:
    figures = {"view": 1.0, "item_auc": 0.66}  # lower than the card, but within its own noise
    assert guard_problems(_record(), figures, {"view": (0.99, 1.0), "item_auc": (0.60, 0.70)}) == []


def test_a_figure_wholly_below_the_card_fails_and_names_the_head() -> None:
    problems = guard_problems(
        _record(), {"view": 0.62, "item_auc": 0.70}, {"view": (0.58, 0.66), "item_auc": (0.64, 0.76)}
    )
    assert len(problems) == 1 and problems[0].startswith("view: 0.620")
    assert "card 0.999 (95% 0.998-1.000)" in problems[0]


def test_a_figure_wholly_above_the_card_fails_too() -> None:
    # far better than the card on fresh items is as suspicious as worse (labels leaking in)
    problems = guard_problems(
        _record(), {"view": 1.0, "item_auc": 0.95}, {"view": (1, 1), "item_auc": (0.93, 0.97)}
    )
    assert [p.split(":")[0] for p in problems] == ["authenticity, item ROC-AUC"]


def test_a_figure_the_render_did_not_measure_fails() -> None:
    assert guard_problems(_record(), {"view": 1.0}, {"view": (1.0, 1.0)}) == [
        "authenticity, item ROC-AUC: not measured on the render"
    ]


def test_the_card_leads_with_held_out_figures_and_says_how_it_was_trained() -> None:
    text = card_text(_record(), "# Model card: reviewer_a 2026-12-07\n\ncalibration table")
    assert text.startswith("# Champion: reviewer_a 2026-12-07")
    # beside each figure, the trivial reviewers it must beat on the same items
    assert "| view | 0.999 | 0.998–1.000 | ≥ 0.99 | 0.250 | 0.742 |" in text
    assert "| authenticity, item ROC-AUC | 0.710 | 0.690–0.730 | ≥ 0.85 | 0.500 | 0.551 |" in text
    assert "seed 37, 10,000 `standard` items at 256 px, of which 9,814 training items" in text
    assert "wall time 1 h 30 min" in text and "## Export card: reviewer_a" in text
