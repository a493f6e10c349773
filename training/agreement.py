"""How independent are two reviewers? Their item-level errors, side by side.

The dual-review verdict decides automatically only where both reviewers agree, so what
matters is how often they are wrong *together*: if their errors were independent, both
would be wrong on `error_a * error_b` of the items; correlated errors push that up.
Inputs are the `items.csv` tables `secondlook evaluate` writes (item_id, label,
p_counterfeit), so no model has to be run again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from secondlook.errors import InputError, MissingInput

ITEMS_FILE = "items.csv"


def read_items(path: Path) -> pd.DataFrame:
    """An evaluation folder's (or a file's) item table, checked for the columns we need."""
    path = Path(path)
    if path.is_dir():
        path = path / ITEMS_FILE
    if not path.is_file():
        raise MissingInput(f"{path}: no item table; run `secondlook evaluate ... --out DIR` first")
    frame = pd.read_csv(path, dtype={"item_id": str})
    missing = {"item_id", "label", "p_counterfeit"} - set(frame.columns)
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return frame


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (no variation to correlate)."""
    if len(x) < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def reviewer_agreement(a: pd.DataFrame, b: pd.DataFrame, threshold: float = 0.5) -> dict[str, float]:
    """Error and agreement statistics of two reviewers over the items both scored.

    `error_correlation` is the phi coefficient of the two error indicators (0: independent
    errors, 1: always wrong on the same items); `both_wrong_if_independent` is what
    independence would give, for comparison with the measured `both_wrong`.
    """
    joined = a.merge(b, on="item_id", suffixes=("_a", "_b"))
    if joined.empty:
        raise InputError("the two item tables have no item in common")
    if not (joined["label_a"] == joined["label_b"]).all():
        raise InputError("the two item tables disagree on item labels: were they made from the same data?")
    label = joined["label_a"].to_numpy().astype(bool)
    decided_a = joined["p_counterfeit_a"].to_numpy() >= threshold
    decided_b = joined["p_counterfeit_b"].to_numpy() >= threshold
    wrong_a, wrong_b = decided_a != label, decided_b != label
    agree = decided_a == decided_b
    return {
        "items": len(joined),
        "error_a": float(wrong_a.mean()),
        "error_b": float(wrong_b.mean()),
        "both_wrong": float((wrong_a & wrong_b).mean()),
        "both_wrong_if_independent": float(wrong_a.mean() * wrong_b.mean()),
        "error_correlation": _pearson(wrong_a.astype(float), wrong_b.astype(float)),
        "score_correlation": _pearson(
            joined["p_counterfeit_a"].to_numpy(float), joined["p_counterfeit_b"].to_numpy(float)
        ),
        "agreement": float(agree.mean()),
        "accuracy_where_agreeing": float((decided_a[agree] == label[agree]).mean())
        if agree.any()
        else float("nan"),
    }


def format_agreement(stats: dict[str, float]) -> str:
    """A few readable lines for the terminal and the demo."""
    return (
        f"items {stats['items']}: error A {stats['error_a']:.3f}, error B {stats['error_b']:.3f}\n"
        f"both wrong {stats['both_wrong']:.3f} (independent errors would give "
        f"{stats['both_wrong_if_independent']:.3f}); error correlation {stats['error_correlation']:.3f}, "
        f"score correlation {stats['score_correlation']:.3f}\n"
        f"agree on {stats['agreement']:.1%} of items, and are right on "
        f"{stats['accuracy_where_agreeing']:.1%} of those"
    )
