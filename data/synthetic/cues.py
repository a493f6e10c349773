"""What each counterfeit cue does to an item: moves its stamp or workmanship off the house style.

Which cues an item gets is decided in `spec.sample_item`; how strong each is comes from the
difficulty level. Cues draw only from the cue stream (`cue_rng`), never the item's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from data.synthetic.config import Difficulty

if TYPE_CHECKING:
    from data.synthetic.spec import StampStyle


@dataclass
class Workmanship:
    """How the hardware and stitching are made: what the hardware and stitch cues change."""

    finish: np.ndarray  # plating colour
    engraving_offset: tuple[float, float]
    engraving_rotation: float
    stitch_pitch: float
    stitch_jitter: float
    edge_roughness: float = 0.0
    phillips: bool = False


def apply_cue(
    cue: str, stamp: StampStyle, work: Workmanship, level: Difficulty, cue_rng: np.random.Generator
) -> None:
    """Move the stamp or the workmanship away from the house style as `cue` says, by `level`."""

    def sign() -> float:
        return float(cue_rng.choice([-1.0, 1.0]))

    if cue == "stamp_font_weight":
        stamp.weight_px = level.font_weight_px if cue_rng.random() < 0.75 else -1  # thinner: one step only
    elif cue == "stamp_letter_spacing":
        stamp.tracking += sign() * level.letter_spacing * cue_rng.uniform(0.85, 1.2)
    elif cue == "stamp_baseline_drift":
        stamp.drift = level.baseline_drift * cue_rng.uniform(0.85, 1.2)
    elif cue == "stamp_misspelling":
        stamp.lines = _misspell_lines(stamp.lines, cue_rng)
    elif cue == "stamp_depth":
        stamp.depth *= level.stamp_depth
    elif cue == "hardware_engraving_misaligned":
        angle = cue_rng.uniform(0, 2 * np.pi)
        magnitude = level.engraving_offset * cue_rng.uniform(0.85, 1.2)
        work.engraving_offset = (magnitude * np.cos(angle), magnitude * np.sin(angle))
        work.engraving_rotation = sign() * level.engraving_rotation_deg * cue_rng.uniform(0.7, 1.2)
    elif cue == "hardware_finish_tone":
        direction = cue_rng.normal(0, 1, 3)
        direction /= np.linalg.norm(direction)
        work.finish = work.finish * (1 + level.finish_tone * direction * np.sqrt(3) / 1.5)
    elif cue == "hardware_rough_edges":
        work.edge_roughness = level.rough_edges
    elif cue == "hardware_wrong_screw":
        work.phillips = True
    elif cue == "stitch_count":
        work.stitch_pitch *= level.stitch_pitch
    elif cue == "stitch_spacing":
        work.stitch_jitter = level.stitch_jitter


def _misspell_lines(lines: tuple[str, ...], rng: np.random.Generator) -> tuple[str, ...]:
    """Misspell one word (alphabetic, over three letters) of the first line that has such a word."""
    out = list(lines)
    j = next(i for i, line in enumerate(out) if any(w.isalpha() and len(w) > 3 for w in line.split()))
    words = out[j].split()
    k = int(rng.choice([i for i, w in enumerate(words) if w.isalpha() and len(w) > 3]))
    words[k] = _misspell(words[k], rng)
    out[j] = " ".join(words)
    return tuple(out)


def _misspell(word: str, rng: np.random.Generator) -> str:
    """One plausible slip: swapped, dropped, doubled or look-alike letter. Always differs."""
    lookalike = {"E": "F", "O": "Q", "I": "L", "N": "M", "C": "G", "A": "R", "L": "I", "R": "P", "S": "5"}
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    for _ in range(20):
        kind = rng.integers(4)
        i = int(rng.choice(letters[:-1] if len(letters) > 1 else letters))
        if kind == 0 and i + 1 < len(word) and word[i] != word[i + 1] and word[i + 1].isalpha():
            out = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif kind == 1 and len(letters) > 3:
            out = word[:i] + word[i + 1 :]
        elif kind == 2:
            out = word[:i] + word[i] + word[i:]
        else:
            out = word[:i] + lookalike.get(word[i], "E" if word[i] != "E" else "F") + word[i + 1 :]
        if out != word:
            return out
    return word + word[-1]
