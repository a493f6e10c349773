"""Sampling an item: everything about it that is fixed before any photo is taken.

Nothing here depends on authenticity except the cue parameters, so nuisances, colours,
categories and defects carry no information about the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from data.synthetic.config import Difficulty
from data.synthetic.cues import Workmanship, apply_cue
from data.taxonomy import Taxonomy


@dataclass(frozen=True)
class Brand:
    name: str
    city: str
    made_in: str
    font: str  # regular weight, a file in matplotlib's font folder
    tracking: float  # house letter spacing, fraction of the font size
    serif_engraving: bool


BRANDS: tuple[Brand, ...] = (
    Brand("MAISON VELLARD", "PARIS", "MADE IN FRANCE", "DejaVuSerif.ttf", 0.10, True),
    Brand("ORSINI", "MILANO", "MADE IN ITALY", "STIXGeneral.ttf", 0.16, True),
    Brand("HALDEN & CO", "LONDON", "MADE IN ENGLAND", "DejaVuSans.ttf", 0.06, False),
)

FINISH_RGB: dict[str, tuple[float, float, float]] = {
    "gold": (0.83, 0.66, 0.30),
    "silver": (0.78, 0.79, 0.81),
    "gunmetal": (0.36, 0.37, 0.40),
    "rose_gold": (0.80, 0.55, 0.50),
}

LEATHER_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.08, 0.07, 0.07),  # black
    (0.42, 0.24, 0.12),  # cognac
    (0.28, 0.16, 0.10),  # chocolate
    (0.62, 0.52, 0.40),  # beige
    (0.50, 0.08, 0.10),  # burgundy
    (0.12, 0.16, 0.30),  # navy
    (0.78, 0.74, 0.68),  # off-white
    (0.30, 0.34, 0.22),  # olive
    (0.70, 0.45, 0.45),  # dusty pink
    (0.45, 0.45, 0.47),  # grey
)

THREAD_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.90, 0.86, 0.76),
    (0.60, 0.42, 0.20),
    (0.10, 0.10, 0.10),
    (0.75, 0.60, 0.35),
)

# Hardware that is fixed with visible screws, so a wrong screw head can show.
SCREWED_HARDWARE = frozenset({"turnlock", "buckle", "d_ring"})
LEATHER_KINDS = ("pebbled", "smooth", "saffiano")
DECLARED_VALUE_MEDIAN = {
    "tote": 1800.0,
    "shoulder_bag": 2400.0,
    "top_handle": 3200.0,
    "clutch": 1200.0,
    "wallet": 650.0,
    "card_holder": 380.0,
}

# (defect count range per view) by grade; defects are placed in wear areas.
DEFECT_PLAN: dict[str, dict[str, tuple[int, int]]] = {
    "A": {"overall": (0, 0), "detail": (0, 0), "hardware": (0, 0), "stamp": (0, 0)},
    "B": {"overall": (0, 1), "detail": (1, 1), "hardware": (0, 1), "stamp": (0, 0)},
    "C": {"overall": (1, 1), "detail": (1, 2), "hardware": (0, 1), "stamp": (0, 1)},
    "D": {"overall": (1, 2), "detail": (2, 3), "hardware": (1, 1), "stamp": (0, 1)},
}
LEATHER_DEFECTS = ("scratch", "scuff", "stain", "tear")
SEVERE_DEFECTS = ("stain", "tear")
METAL_DEFECTS = ("scratch", "tarnish")


@dataclass
class StampStyle:
    """How the stamp lettering is set; counterfeit cues move these away from the house style."""

    tracking: float
    weight_px: int = 0
    drift: float = 0.004
    depth: float = 1.0
    lines: tuple[str, ...] = ()


@dataclass
class ItemSpec:
    item_id: str
    index: int
    category: str
    brand: Brand
    leather_kind: str
    leather_rgb: tuple[float, float, float]
    thread_rgb: tuple[float, float, float]
    hardware_type: str
    hardware_finish: str
    finish_rgb: tuple[float, float, float]
    stamp_type: str
    stamp: StampStyle
    engraving_offset: tuple[float, float]
    engraving_rotation: float
    edge_roughness: float
    phillips_screws: bool
    stitch_pitch: float  # fraction of the image size
    stitch_jitter: float
    condition_grade: str
    wear: float  # 0 new .. 1 worn: fading and creases
    defects: dict[str, list[str]]
    authentic: bool
    cues: tuple[str, ...]
    declared_value: float
    code: str
    extra: dict[str, float] = field(default_factory=dict)


def stamp_lines(brand: Brand, stamp_type: str, code: str) -> tuple[str, ...]:
    if stamp_type in ("heat_stamp", "foil_stamp"):
        return (brand.name, brand.city, brand.made_in)
    if stamp_type == "embossed_logo":
        return (brand.name, brand.city)
    if stamp_type == "date_code":
        return (brand.made_in, code)
    return (brand.name, f"No {code}")  # serial_plate


def sample_item(
    index: int,
    seed: int,
    counterfeit: bool,
    level: Difficulty,
    taxonomy: Taxonomy,
    forced_cues: Sequence[str] | None = None,
) -> ItemSpec:
    """Sample item `index` of benchmark `seed`. `counterfeit` comes from the caller's balanced draw.

    `forced_cues` makes a counterfeit with exactly these cues (tests and error analysis).
    """
    rng = np.random.default_rng([seed, index, 1])
    category = str(rng.choice(taxonomy.classes("category")))
    brand = BRANDS[int(rng.integers(len(BRANDS)))]
    hardware_type = str(rng.choice(taxonomy.classes("hardware_type")))
    hardware_finish = str(rng.choice(taxonomy.classes("hardware_finish")))
    stamp_type = str(rng.choice(taxonomy.classes("stamp_type")))
    grade = str(rng.choice(taxonomy.classes("condition_grade"), p=[0.3, 0.3, 0.25, 0.15]))
    code = f"{''.join(rng.choice(list('ABCDEFHJKLMNPRSTUVWXYZ'), 2))}{rng.integers(1000, 9999)}"

    # Natural, label-free variation of the genuine article.
    stamp = _house_stamp(brand, stamp_type, code, rng)
    work = _house_workmanship(hardware_finish, rng)

    # Cues draw from their own stream, so a counterfeit and its genuine twin (same seed and
    # index) share every other attribute: what differs between their photos is the cue alone.
    cue_rng = np.random.default_rng([seed, index, 3])
    cues = _choose_cues(counterfeit, hardware_type, taxonomy, cue_rng, forced_cues)
    for cue in cues:
        apply_cue(cue, stamp, work, level, cue_rng)

    defects = {view: _sample_defects(view, grade, rng) for view in taxonomy.view_names}
    value = float(DECLARED_VALUE_MEDIAN[category] * np.exp(rng.normal(0, 0.5)))
    return ItemSpec(
        item_id=f"s{seed}-{index:06d}",
        index=index,
        category=category,
        brand=brand,
        leather_kind=str(rng.choice(LEATHER_KINDS)),
        leather_rgb=tuple(
            np.clip(
                np.array(LEATHER_COLOURS[rng.integers(len(LEATHER_COLOURS))]) * (1 + rng.normal(0, 0.06, 3)),
                0,
                1,
            )
        ),
        thread_rgb=THREAD_COLOURS[int(rng.integers(len(THREAD_COLOURS)))],
        hardware_type=hardware_type,
        hardware_finish=hardware_finish,
        finish_rgb=tuple(np.clip(work.finish, 0, 1)),
        stamp_type=stamp_type,
        stamp=stamp,
        engraving_offset=(float(work.engraving_offset[0]), float(work.engraving_offset[1])),
        engraving_rotation=work.engraving_rotation,
        edge_roughness=work.edge_roughness,
        phillips_screws=work.phillips,
        stitch_pitch=work.stitch_pitch,
        stitch_jitter=work.stitch_jitter,
        condition_grade=grade,
        wear={"A": 0.0, "B": 0.25, "C": 0.55, "D": 0.85}[grade] + float(rng.uniform(0, 0.15)),
        defects=defects,
        authentic=not cues,
        cues=tuple(cues),
        declared_value=round(value, -1),
        code=code,
    )


def _house_stamp(brand: Brand, stamp_type: str, code: str, rng: np.random.Generator) -> StampStyle:
    """The genuine stamp: the brand's house tracking, with a little natural variation."""
    return StampStyle(
        tracking=brand.tracking * (1 + rng.normal(0, 0.08)),
        drift=abs(rng.normal(0.004, 0.002)),
        depth=float(rng.uniform(0.9, 1.1)),
        lines=stamp_lines(brand, stamp_type, code),
    )


def _house_workmanship(hardware_finish: str, rng: np.random.Generator) -> Workmanship:
    """Genuine hardware and stitching, with a little natural variation."""
    finish = np.array(FINISH_RGB[hardware_finish]) * (1 + rng.normal(0, 0.012, 3))
    offset = rng.normal(0, 0.006, 2)
    return Workmanship(
        finish=finish,
        engraving_offset=(offset[0], offset[1]),
        engraving_rotation=float(rng.normal(0, 0.5)),
        stitch_pitch=float(rng.uniform(0.032, 0.040)),
        stitch_jitter=float(rng.uniform(0.02, 0.05)),
    )


def _choose_cues(
    counterfeit: bool,
    hardware_type: str,
    taxonomy: Taxonomy,
    cue_rng: np.random.Generator,
    forced_cues: Sequence[str] | None,
) -> list[str]:
    """The item's cues, sorted: `forced_cues` if given, else one to three for a counterfeit."""
    if forced_cues is not None:
        unknown = sorted(set(forced_cues) - set(taxonomy.cue_names))
        if unknown:
            raise ValueError(f"unknown counterfeit cue(s): {', '.join(unknown)}")
        return sorted(forced_cues)
    if not counterfeit:
        return []
    possible = [c for c in taxonomy.cue_names if _cue_possible(c, hardware_type)]
    n_cues = int(cue_rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
    return sorted(str(c) for c in cue_rng.choice(possible, size=n_cues, replace=False))


def _cue_possible(cue: str, hardware_type: str) -> bool:
    """Every stamp type carries a word to misspell; only some hardware shows screws."""
    if cue == "hardware_wrong_screw":
        return hardware_type in SCREWED_HARDWARE
    return True


def _sample_defects(view: str, grade: str, rng: np.random.Generator) -> list[str]:
    low, high = DEFECT_PLAN[grade][view]
    count = int(rng.integers(low, high + 1))
    if view == "hardware":
        return [str(rng.choice(METAL_DEFECTS)) for _ in range(count)]
    pool = LEATHER_DEFECTS if grade == "D" else ("scratch", "scuff", "stain")
    chosen = [str(rng.choice(pool)) for _ in range(count)]
    if grade == "D" and view == "detail" and not set(chosen) & set(SEVERE_DEFECTS):
        chosen[0] = str(rng.choice(SEVERE_DEFECTS))
    return chosen
