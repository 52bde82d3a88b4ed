"""Instrument scores of one record (ENDPOINTS.md section 2): the rules the analysis applies to columns.

PROMIS SF v1.0 Sleep Disturbance 8b: the raw score is the sum of the item scores (8..40),
prorated from 4 to 7 answered items (round(sum x 8 / answered), half up); fewer than 4
and there is no raw score. The T-score comes from the raw score by the table below,
calibrated on the 7-day recall form (no 24-hour table exists), so T-scores are supportive only.
"""

from __future__ import annotations

PROMIS_ITEMS = 8
# Fewer answered items than this and the PROMIS raw score is missing.
PROMIS_MIN_ITEMS = 4

PROMIS_T_SCORES = {
    8: 28.9, 9: 33.1, 10: 35.9, 11: 38.0, 12: 39.8, 13: 41.4, 14: 42.9, 15: 44.2, 16: 45.5,
    17: 46.7, 18: 47.9, 19: 49.0, 20: 50.1, 21: 51.2, 22: 52.2, 23: 53.3, 24: 54.3, 25: 55.3,
    26: 56.3, 27: 57.3, 28: 58.3, 29: 59.4, 30: 60.4, 31: 61.5, 32: 62.6, 33: 63.7, 34: 64.9,
    35: 66.1, 36: 67.5, 37: 69.0, 38: 70.8, 39: 73.0, 40: 76.5,
}  # fmt: skip


def promis_raw(item_sum: int, items_answered: int) -> int | None:
    """The raw score (8..40), prorated from 4 to 7 items; None below 4."""
    if items_answered < PROMIS_MIN_ITEMS:
        return None
    # floor(8t/n + 1/2) in exact integer arithmetic, as analysis.scoring does for whole columns.
    return (16 * item_sum + items_answered) // (2 * items_answered)


def promis_tscore(raw: int | None) -> float | None:
    return PROMIS_T_SCORES.get(raw) if raw is not None else None


def derived_scores(instrument: str, scored: list[dict]) -> dict:
    """What a diary record keeps beside its answers: the itch value, or the PROMIS sum, raw and T-score."""
    if instrument == "ITCH_NRS":
        return {"itch": scored[0]["score"]}
    total = sum(a["score"] for a in scored)
    raw = promis_raw(total, len(scored))
    return {"answered": len(scored), "sum": total, "raw": raw, "t_score": promis_tscore(raw)}
