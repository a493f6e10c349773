"""Generator settings: what a user chooses (SynthConfig) and what a difficulty means (Difficulty)."""

from __future__ import annotations

from dataclasses import dataclass

from data.splits import DEFAULT_FRACTIONS, check_fractions
from secondlook.errors import InputError

GENERATOR_VERSION = "2"  # 2: twins framed alike; cue regions in the masks


@dataclass(frozen=True)
class Difficulty:
    """How strong counterfeit cues are and how rough the photography is.

    Cue magnitudes are fractions of the relevant size (font size, plate size, stitch
    pitch); genuine items get their own small natural variation on top, so no cue can
    be read off a single pixel statistic.
    """

    name: str
    # counterfeit cue magnitudes
    font_weight_px: int  # dilation/erosion of the stamp lettering, in 2x-supersampled pixels
    letter_spacing: float  # tracking change, fraction of the font size
    baseline_drift: float  # std of per-letter baseline offsets, fraction of the font size
    stamp_depth: float  # factor on stamp depth and contrast (genuine = 1)
    engraving_offset: float  # fraction of the plate size
    engraving_rotation_deg: float
    finish_tone: float  # relative plating colour shift
    rough_edges: float  # edge noise amplitude on the hardware outline, in pixels
    stitch_pitch: float  # factor on stitch pitch (fewer stitches per length)
    stitch_jitter: float  # std of stitch positions, fraction of the pitch
    # photo nuisances
    exposure: tuple[float, float]
    color_temperature: tuple[float, float]
    rotation_deg: float
    perspective: float  # corner jitter, fraction of the size
    blur_sigma: tuple[float, float]
    noise_sigma: tuple[float, float]  # in 8-bit levels
    jpeg_quality: tuple[int, int]
    clutter: tuple[int, int]  # number of background objects in overall views


DIFFICULTIES: dict[str, Difficulty] = {
    "easy": Difficulty(
        name="easy",
        font_weight_px=3,
        letter_spacing=0.20,
        baseline_drift=0.09,
        stamp_depth=0.35,
        engraving_offset=0.10,
        engraving_rotation_deg=8.0,
        finish_tone=0.12,
        rough_edges=3.0,
        stitch_pitch=1.5,
        stitch_jitter=0.30,
        exposure=(0.9, 1.1),
        color_temperature=(5000.0, 6500.0),
        rotation_deg=3.0,
        perspective=0.02,
        blur_sigma=(0.0, 0.5),
        noise_sigma=(0.0, 2.0),
        jpeg_quality=(88, 95),
        clutter=(0, 2),
    ),
    "standard": Difficulty(
        name="standard",
        font_weight_px=2,
        letter_spacing=0.11,
        baseline_drift=0.05,
        stamp_depth=0.5,
        engraving_offset=0.06,
        engraving_rotation_deg=5.0,
        finish_tone=0.07,
        rough_edges=2.0,
        stitch_pitch=1.3,
        stitch_jitter=0.18,
        exposure=(0.75, 1.25),
        color_temperature=(3800.0, 7200.0),
        rotation_deg=7.0,
        perspective=0.04,
        blur_sigma=(0.0, 1.1),
        noise_sigma=(0.0, 4.0),
        jpeg_quality=(70, 95),
        clutter=(0, 4),
    ),
    "hard": Difficulty(
        name="hard",
        font_weight_px=1,
        letter_spacing=0.08,
        baseline_drift=0.035,
        stamp_depth=0.62,
        engraving_offset=0.04,
        engraving_rotation_deg=3.5,
        finish_tone=0.045,
        rough_edges=1.5,
        stitch_pitch=1.2,
        stitch_jitter=0.13,
        exposure=(0.6, 1.4),
        color_temperature=(3000.0, 8000.0),
        rotation_deg=12.0,
        perspective=0.07,
        blur_sigma=(0.0, 1.7),
        noise_sigma=(0.0, 7.0),
        jpeg_quality=(55, 92),
        clutter=(2, 6),
    ),
}


@dataclass(frozen=True)
class SynthConfig:
    """One benchmark build: same config, same bytes."""

    items: int = 400
    seed: int = 0
    difficulty: str = "standard"
    size: int = 256
    counterfeit_rate: float = 0.5
    workers: int = 0  # 0: one per core
    manifest_name: str = "manifest.csv"
    split_fractions: tuple[float, float, float] = DEFAULT_FRACTIONS

    def __post_init__(self) -> None:
        if self.items < 1:
            raise InputError(f"items must be at least 1, got {self.items}")
        if self.difficulty not in DIFFICULTIES:
            raise InputError(f"difficulty must be one of {', '.join(DIFFICULTIES)}, got {self.difficulty!r}")
        if not 128 <= self.size <= 1024:
            raise InputError(f"size must be between 128 and 1024 pixels, got {self.size}")
        if not 0.0 <= self.counterfeit_rate <= 1.0:
            raise InputError(f"counterfeit_rate must be between 0 and 1, got {self.counterfeit_rate}")
        if self.workers < 0:
            raise InputError(f"workers must be 0 (one per core) or more, got {self.workers}")
        if not self.manifest_name.endswith((".csv", ".parquet")):
            raise InputError("manifest_name must end in .csv or .parquet")
        check_fractions(self.split_fractions)

    @property
    def level(self) -> Difficulty:
        return DIFFICULTIES[self.difficulty]
