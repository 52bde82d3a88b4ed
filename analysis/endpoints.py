"""The endpoints (ENDPOINTS.md section 4), by family: binary (responders, with non-responder
imputation) and continuous (observed change from baseline), computed from the derived values
(derived.py) as pure functions over DataFrames.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.derived import ITCH, RAW, Derived

RESPONDER_COLUMNS = ["USUBJID", "ARM", "ENDPOINT", "INPOP", "RESPONDER", "IMPUTED"]
# Means of integers are not exact in floats: 6.333.. - 2.333.. must reach 4.
THRESHOLD_TOLERANCE = 1e-9


@dataclass(frozen=True)
class BinaryEndpoint:
    name: str
    measure: str
    population_threshold: float  # baseline must reach it
    improvement: float  # baseline - value must reach it
    week: int | None = None
    day: int | None = None


BINARY_ENDPOINTS = (
    *(BinaryEndpoint(f"ITCH_NRS4_W{w}", ITCH, 4, 4, week=w) for w in (2, 4, 8)),
    *(BinaryEndpoint(f"ITCH_NRS4_D{d}", ITCH, 4, 4, day=d) for d in (2, 7)),
    # Baseline >= 14 so that a 6-point improvement is attainable (raw minimum is 8).
    *(BinaryEndpoint(f"PROMIS_SD6_W{w}", RAW, 14, 6, week=w) for w in (2, 4, 8)),
)


@dataclass(frozen=True)
class ContinuousEndpoint:
    name: str
    measure: str
    week: int | None = None  # None: the 12-hour value


CONTINUOUS_ENDPOINTS = (
    ContinuousEndpoint("ITCH_CHG_H12", ITCH),
    *(ContinuousEndpoint(f"ITCH_CHG_W{w}", ITCH, week=w) for w in (2, 4, 8)),
    ContinuousEndpoint("PROMIS_CHG_W8", RAW, week=8),
)


def reaches(value, threshold) -> np.ndarray:
    """value >= threshold, counting a value within 1e-9 below it as reaching it."""
    return np.asarray(value, dtype=float) >= threshold - THRESHOLD_TOLERANCE


def binary_outcomes(derived: Derived) -> pd.DataFrame:
    """Population and responder status for every analysis-set participant and binary endpoint (NRI).

    Columns SUBJ, ENDPOINT, INPOP, RESPONDER, IMPUTED (booleans; RESPONDER and
    IMPUTED are meaningful only when INPOP).
    """
    n = len(derived.subjects)
    parts = []
    for endpoint in BINARY_ENDPOINTS:
        baseline = _per_subject(derived.baseline, endpoint.measure, "BASE", n)
        if endpoint.week is not None:
            weekly = derived.weekly[derived.weekly["WEEK"] == endpoint.week]
            value = _per_subject(weekly, endpoint.measure, "AVAL", n)
        else:
            daily = derived.daily[derived.daily["STUDY_DAY"] == endpoint.day]
            value = _per_subject(daily, endpoint.measure, "AVAL", n)
        # NaN baseline: not in population; nor is a participant not yet evaluable at the cut-off.
        in_population = reaches(baseline, endpoint.population_threshold) & evaluable(derived, endpoint)
        present = np.isfinite(value)
        # A missing value makes a non-responder (non-responder imputation).
        responder = present & reaches(baseline - value, endpoint.improvement)
        parts.append(
            pd.DataFrame(
                {"SUBJ": np.arange(n), "ENDPOINT": endpoint.name, "INPOP": in_population,
                 "RESPONDER": responder, "IMPUTED": ~present}
            )  # fmt: skip
        )
    return pd.concat(parts, ignore_index=True)


def continuous_outcomes(derived: Derived) -> pd.DataFrame:
    """Observed changes from baseline: SUBJ, ENDPOINT, CHANGE, BASE (rows only where both exist)."""
    n = len(derived.subjects)
    parts = []
    for endpoint in CONTINUOUS_ENDPOINTS:
        baseline = _per_subject(derived.baseline, endpoint.measure, "BASE", n)
        if endpoint.week is None:
            value = np.full(n, np.nan)
            value[derived.h12["SUBJ"].to_numpy()] = derived.h12["AVAL"].to_numpy()
        else:
            weekly = derived.weekly[derived.weekly["WEEK"] == endpoint.week]
            value = _per_subject(weekly, endpoint.measure, "AVAL", n)
        observed = np.isfinite(value) & np.isfinite(baseline) & evaluable(derived, endpoint)
        parts.append(
            pd.DataFrame(
                {"SUBJ": np.flatnonzero(observed), "ENDPOINT": endpoint.name,
                 "CHANGE": (value - baseline)[observed], "BASE": baseline[observed]}
            )  # fmt: skip
        )
    return pd.concat(parts, ignore_index=True)


def last_study_day(endpoint) -> int:
    """The nominal last day of an endpoint's time point: 7w for week w, d for day d, Day 1 for 12 hours."""
    if endpoint.week is not None:
        return 7 * endpoint.week
    return getattr(endpoint, "day", None) or 1


def evaluable(derived: Derived, endpoint) -> np.ndarray:
    """Per SUBJ: the cut-off has reached the endpoint's nominal last day."""
    return derived.subjects["REACHED"].to_numpy() >= last_study_day(endpoint)


def _per_subject(frame: pd.DataFrame, measure: str, column: str, n: int) -> np.ndarray:
    """`column` of `measure` as an array indexed by SUBJ, NaN where absent."""
    rows = frame[frame["MEASURE"] == measure]
    out = np.full(n, np.nan)
    out[rows["SUBJ"].to_numpy()] = rows[column].to_numpy(dtype=float)
    return out


def responder_rows(derived: Derived, outcomes: pd.DataFrame) -> pd.DataFrame:
    """The rows of responders.csv (unsorted)."""
    subjects = derived.subjects
    subj = outcomes["SUBJ"].to_numpy()
    inpop = outcomes["INPOP"].to_numpy()
    return pd.DataFrame(
        {
            "USUBJID": subjects["USUBJID"].to_numpy()[subj],
            "ARM": "" if derived.blinded else subjects["ARM"].to_numpy()[subj],
            "ENDPOINT": outcomes["ENDPOINT"].to_numpy(),
            "INPOP": np.where(inpop, "Y", "N"),
            "RESPONDER": np.where(inpop, np.where(outcomes["RESPONDER"], "Y", "N"), ""),
            "IMPUTED": np.where(inpop, np.where(outcomes["IMPUTED"], "Y", "N"), ""),
        }
    )

