"""Instrument scores and the study-day calendar (ENDPOINTS.md sections 1 and 2).

Everything here works on whole columns: the analysis runs over millions of item
answers, so no function takes one participant at a time.
"""

import numpy as np
import pandas as pd

# One home for the instrument rules: the core scores one record by them, this module whole columns.
from diaries.protocol.scoring import PROMIS_ITEMS, PROMIS_MIN_ITEMS, PROMIS_T_SCORES  # noqa: F401 - PROMIS_ITEMS for callers

ITCH_NRS = "ITCH_NRS"
PROMIS_SD8B = "PROMIS_SD8B"

_T_BY_RAW = np.full(41, np.nan)
_T_BY_RAW[list(PROMIS_T_SCORES)] = list(PROMIS_T_SCORES.values())

_EPOCH = np.datetime64("1970-01-01", "D")


def promis_raw(item_sum, items_answered) -> np.ndarray:
    """PROMIS raw score (8..40) per record, prorated from 4 to 7 items; NaN below 4."""
    total = np.asarray(item_sum, dtype=np.int64)
    answered = np.asarray(items_answered, dtype=np.int64)
    safe = np.maximum(answered, 1)
    # round(total * 8 / answered) half-up in exact integer arithmetic:
    # floor(x + 1/2) with x = 8t/n is (16t + n) // 2n. With 4..7 items a tie cannot
    # occur, but a float round() would be banker's rounding if the rule ever changed.
    prorated = (16 * total + safe) // (2 * safe)
    return np.where(answered >= PROMIS_MIN_ITEMS, prorated, np.nan).astype(float)


def promis_tscore(raw) -> np.ndarray:
    """T-score for each raw score (NaN stays NaN)."""
    raw = np.asarray(raw, dtype=float)
    known = np.isfinite(raw) & (raw >= 8) & (raw <= 40)
    out = np.full(raw.shape, np.nan)
    out[known] = _T_BY_RAW[raw[known].astype(np.int64)]
    return out


def day_number(dates) -> np.ndarray:
    """Days since 1970-01-01 of datetime64 dates, as int64 (NaT gives a huge negative number)."""
    return (np.asarray(dates, dtype="datetime64[D]") - _EPOCH).astype(np.int64)


def study_day(day, day1) -> np.ndarray:
    """Study day of local dates given as day numbers: Day 1 is day1, the day before is -1, no Day 0."""
    offset = np.asarray(day, dtype=np.int64) - np.asarray(day1, dtype=np.int64)
    return np.where(offset >= 0, offset + 1, offset)


def study_day_offset(days) -> np.ndarray:
    """Days from Day 1 to the given study days (the inverse of study_day)."""
    days = np.asarray(days, dtype=np.int64)
    return np.where(days >= 1, days - 1, days)


def local_dates(instants: pd.Series, zones: pd.Series) -> pd.Series:
    """Local calendar date of each UTC instant in its own IANA zone (NaT stays NaT).

    The offset an instant was written with does not matter: Day 1 is the date on
    the participant's wall clock, through DST changes too.
    """
    out = pd.Series(pd.NaT, index=instants.index, dtype="datetime64[s]")
    present = instants.notna()
    # One conversion per zone, not per participant: a trial has a handful of zones.
    for zone, idx in instants[present].groupby(zones[present], sort=False).groups.items():
        local = instants.loc[idx].dt.tz_convert(zone).dt.tz_localize(None).dt.normalize()
        out.loc[idx] = local.astype("datetime64[s]")
    return out
