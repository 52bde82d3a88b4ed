"""Derived values (ENDPOINTS.md section 3), as pure functions over DataFrames: the analysis set, daily
values, the 12-hour value, baselines and weekly means. The endpoints (endpoints.py), adqs (adqs.py)
and compliance (compliance.py) are computed from them.

Participants are numbered 0..n-1 in USUBJID order (`SUBJ`) and days are integers,
so the heavy steps are integer group-bys and merges rather than string work.
Nothing here reads files or touches the ORM: the same functions serve
compute_endpoints (files) and export_transfer (database selectors).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.inputs import DAILY, H12
from analysis.scoring import (
    ITCH_NRS,
    PROMIS_SD8B,
    day_number,
    promis_raw,
    promis_tscore,
    study_day,
)

# Measures: the daily value series every parameter is built from.
ITCH = "ITCH"
RAW = "RAW"
TSCORE = "TSCORE"
MEASURES = (ITCH, RAW, TSCORE)
# Each measure times its scale is an integer (T-scores have one decimal), so means
# are computed from exact integer sums: the same double whatever the row order,
# which byte-identical exports from files and from the database need.
SCALES = {ITCH: 1, RAW: 1, TSCORE: 10}

EARLIEST_STUDY_DAY = -7  # run-in starts on Day -7; anything earlier is ignored
BASELINE_DAYS = (-7, -1)
WEEKS = range(1, 9)
MIN_DAYS = 4
BLINDED_GROUP = "ALL"
NO_DISCONTINUATION = np.iinfo(np.int64).max


@dataclass(frozen=True)
class Parameter:
    paramcd: str
    param: str
    measure: str
    kind: str  # "daily", "weekly" or "h12"


PARAMETERS = (
    Parameter("ITCHNRS", "Worst itch NRS (daily)", ITCH, "daily"),
    Parameter("ITCHH12", "Worst itch NRS 12 hours after first application", ITCH, "h12"),
    Parameter("ITCHNRSW", "Worst itch NRS (weekly mean)", ITCH, "weekly"),
    Parameter("PSDSB998", "PROMIS SD 8b raw score (daily)", RAW, "daily"),
    Parameter("PSDSB98W", "PROMIS SD 8b raw score (weekly mean)", RAW, "weekly"),
    Parameter("PSDSB999", "PROMIS SD 8b T-score (daily)", TSCORE, "daily"),
    Parameter("PSDSB99W", "PROMIS SD 8b T-score (weekly mean)", TSCORE, "weekly"),
)



@dataclass(frozen=True)
class Derived:
    """Per-participant derived values of the analysis set."""

    # index SUBJ; USUBJID, SITEID, ARM, STRATUM, GROUP, DAY1, LAST_DAY (day numbers), REACHED (the study
    # day of the data cut-off: the participant is evaluable for every time point up to it)
    subjects: pd.DataFrame
    daily: pd.DataFrame  # SUBJ, MEASURE, STUDY_DAY, AVAL
    h12: pd.DataFrame  # SUBJ, STUDY_DAY, AVAL
    baseline: pd.DataFrame  # SUBJ, MEASURE, BASE, NVALS (only where the baseline exists)
    weekly: pd.DataFrame  # SUBJ, MEASURE, WEEK, VISIT_DAY, AVAL, NVALS (only where the value exists)
    blinded: bool


# -- analysis set -------------------------------------------------------------------------


def analysis_set(participants: pd.DataFrame, as_of=None) -> pd.DataFrame:
    """Participants with a first application, numbered in USUBJID order, with their analysis group.

    Blinded (no participant has an arm): every participant is in group ALL. A mix of
    randomized and unrandomized participants is refused (inputs.read_inputs reports it
    line by line; here it is a programming error). `as_of`: the data cut-off date.
    """
    chosen = participants[participants["DAY1"].notna()]
    if 0 < (chosen["ARM"] == "").sum() < len(chosen):
        raise ValueError("some participants of the analysis set have an arm and others not: refusing to pool")
    # numpy sorts an object array with Python's string comparison: Unicode code
    # point order, the order of the output files.
    order = np.argsort(np.asarray(chosen["USUBJID"].tolist(), dtype=object), kind="stable")
    subjects = chosen.iloc[order].reset_index(drop=True)
    blinded = is_blinded(subjects)
    discontinued = subjects["DISCONTINUED_ON"]
    return pd.DataFrame(
        {
            "USUBJID": subjects["USUBJID"].astype(str),
            "SITEID": subjects["SITEID"].astype(str),
            "ARM": subjects["ARM"].astype(str),
            "STRATUM": subjects["STRATUM"].astype(str),
            "GROUP": BLINDED_GROUP if blinded else subjects["ARM"].astype(str),
            "DAY1": day_number(subjects["DAY1"]),
            "LAST_DAY": np.where(discontinued.notna(), day_number(discontinued.fillna(pd.Timestamp(0))),
                                 NO_DISCONTINUATION),
            "REACHED": _reached_study_day(day_number(subjects["DAY1"]), as_of),
        }  # fmt: skip
    )


def _reached_study_day(day1: np.ndarray, as_of) -> np.ndarray:
    """Study day of the cut-off date per participant (every time point reached without a cut-off)."""
    if as_of is None:
        return np.full(len(day1), NO_DISCONTINUATION, dtype=np.int64)
    return study_day(np.full(len(day1), cutoff_day(as_of), dtype=np.int64), day1).astype(np.int64)


def cutoff_day(as_of) -> int:
    """Day number of a cut-off date (date, Timestamp or datetime64)."""
    return int(day_number(np.array([np.datetime64(pd.Timestamp(as_of).date(), "D")]))[0])


def is_blinded(subjects: pd.DataFrame) -> bool:
    return bool((subjects["ARM"] == "").all())


def subject_codes(usubjid: pd.Series, subjects: pd.DataFrame) -> np.ndarray:
    """SUBJ of each USUBJID, -1 for participants outside the analysis set."""
    codes, uniques = pd.factorize(usubjid)  # cheap on a categorical column: it works on the codes
    positions = pd.Index(subjects["USUBJID"]).get_indexer(pd.Index(np.asarray(uniques, dtype=object)))
    return np.append(positions, -1).astype(np.int64)[codes]


# -- daily values -------------------------------------------------------------------------


def diary_in_scope(diary: pd.DataFrame, subjects: pd.DataFrame) -> pd.DataFrame:
    """Diary rows that count: analysis set, on or before DISCONTINUED_ON and the cut-off, from Day -7 on.

    Adds SUBJ and STUDY_DAY.
    """
    subj = subject_codes(diary["USUBJID"], subjects)
    inside = subj >= 0
    subj = subj[inside]
    day = day_number(diary["DIARY_DATE"].to_numpy()[inside])
    first, last = subjects["DAY1"].to_numpy()[subj], subjects["LAST_DAY"].to_numpy()[subj]
    days = study_day(day, first)
    # Values *on* the discontinuation date are kept, later ones ignored everywhere; so are
    # values after the data cut-off.
    keep = (day <= last) & (days >= EARLIEST_STUDY_DAY) & (days <= subjects["REACHED"].to_numpy()[subj])
    rows = diary[inside][keep]
    return pd.DataFrame(
        {
            "SUBJ": subj[keep],
            "INSTRUMENT": rows["INSTRUMENT"].to_numpy(),
            "TIMEPOINT": rows["TIMEPOINT"].to_numpy(),
            "STUDY_DAY": days[keep],
            "ITEM": rows["ITEM"].to_numpy(),
            "SCORE": rows["SCORE"].to_numpy(),
        }
    )


def daily_values(scoped: pd.DataFrame) -> pd.DataFrame:
    """One row per participant, measure and study day: itch NRS, PROMIS raw and T-score."""
    daily = scoped[scoped["TIMEPOINT"] == DAILY]
    itch = daily[daily["INSTRUMENT"] == ITCH_NRS]
    promis = daily[daily["INSTRUMENT"] == PROMIS_SD8B]
    # The key of diary.csv makes items distinct, so counting rows counts distinct items.
    records = promis.groupby(["SUBJ", "STUDY_DAY"], sort=False)["SCORE"].agg(["sum", "size"]).reset_index()
    raw = promis_raw(records["sum"], records["size"])
    scored = records[np.isfinite(raw)]
    raw = raw[np.isfinite(raw)]
    parts = [
        _measure_frame(ITCH, itch["SUBJ"], itch["STUDY_DAY"], itch["SCORE"].astype(float)),
        _measure_frame(RAW, scored["SUBJ"], scored["STUDY_DAY"], raw),
        _measure_frame(TSCORE, scored["SUBJ"], scored["STUDY_DAY"], promis_tscore(raw)),
    ]
    return pd.concat(parts, ignore_index=True)


def _measure_frame(measure, subj, days, values) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame(
        {
            "SUBJ": np.asarray(subj, dtype=np.int64),
            "MEASURE": pd.Categorical([measure] * len(subj), categories=MEASURES),
            "STUDY_DAY": np.asarray(days, dtype=np.int64),
            "AVAL": values,
            "SCALED": np.rint(values * SCALES[measure]).astype(np.int64),
        }
    )


def _exact_means(values: pd.DataFrame, keys: list[str], min_days: int) -> pd.DataFrame:
    """Mean and count of daily values per `keys`, where at least `min_days` values exist."""
    sums = values.groupby(keys, observed=True, sort=False)["SCALED"].agg(["sum", "size"])
    sums = sums[sums["size"] >= min_days].reset_index()
    scale = sums["MEASURE"].map(SCALES).astype(np.int64)
    return sums.assign(MEAN=sums["sum"] / (scale * sums["size"]), NVALS=sums["size"]).drop(columns=["sum", "size"])


def h12_values(scoped: pd.DataFrame) -> pd.DataFrame:
    """The 12-hour itch record of each participant, used as given (its window was enforced at capture)."""
    h12 = scoped[(scoped["TIMEPOINT"] == H12) & (scoped["INSTRUMENT"] == ITCH_NRS)]
    return pd.DataFrame(
        {
            "SUBJ": h12["SUBJ"].to_numpy(),
            "STUDY_DAY": h12["STUDY_DAY"].to_numpy(),
            "AVAL": h12["SCORE"].to_numpy(dtype=float),
        }
    )


# -- baseline and weekly means ------------------------------------------------------------


def baselines(daily: pd.DataFrame, min_days: int = MIN_DAYS) -> pd.DataFrame:
    """Mean of the run-in values (Days -7..-1) where at least `min_days` exist."""
    first, last = BASELINE_DAYS
    runin = daily[(daily["STUDY_DAY"] >= first) & (daily["STUDY_DAY"] <= last)]
    return _exact_means(runin, ["SUBJ", "MEASURE"], min_days).rename(columns={"MEAN": "BASE"})


def visit_days(subjects: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Study day of the Week 1..8 visits: the actual visit when recorded, else the nominal 7w + 1."""
    n = len(subjects)
    weeks = np.array(list(WEEKS), dtype=np.int64)
    grid = pd.DataFrame({"SUBJ": np.repeat(np.arange(n, dtype=np.int64), len(weeks)), "WEEK": np.tile(weeks, n)})
    grid["VISIT_DAY"] = 7 * grid["WEEK"] + 1
    subj = subject_codes(visits["USUBJID"], subjects)
    actual = visits[(subj >= 0) & visits["WEEK"].isin(weeks).to_numpy()]
    subj = subj[(subj >= 0) & visits["WEEK"].isin(weeks).to_numpy()]
    if len(actual):
        day = study_day(day_number(actual["VISIT_DATE"]), subjects["DAY1"].to_numpy()[subj])
        position = subj * len(weeks) + (actual["WEEK"].to_numpy() - weeks[0])
        recorded = day <= subjects["REACHED"].to_numpy()[subj]  # a visit after the cut-off is ignored
        grid.loc[position[recorded], "VISIT_DAY"] = day[recorded]
    # Weeks whose nominal last day (study day 7w) is after the cut-off are not evaluable: no value.
    return grid[(7 * grid["WEEK"]).to_numpy() <= subjects["REACHED"].to_numpy()[grid["SUBJ"].to_numpy()]]


def weekly_values(daily: pd.DataFrame, visits: pd.DataFrame, min_days: int = MIN_DAYS) -> pd.DataFrame:
    """Mean of the daily values with study day in [v - 7, v - 1] before each visit day v.

    The window is in study-day numbers and there is no Day 0, so a window that
    crosses Day 1 spans only 6 calendar days.
    """
    offsets = np.arange(1, 8, dtype=np.int64)
    window = pd.DataFrame(
        {
            "SUBJ": np.repeat(visits["SUBJ"].to_numpy(), len(offsets)),
            "WEEK": np.repeat(visits["WEEK"].to_numpy(), len(offsets)),
            "VISIT_DAY": np.repeat(visits["VISIT_DAY"].to_numpy(), len(offsets)),
        }
    )
    window["STUDY_DAY"] = window["VISIT_DAY"] - np.tile(offsets, len(visits))
    window = window[window["STUDY_DAY"] != 0]
    values = window.merge(daily, on=["SUBJ", "STUDY_DAY"], how="inner")
    means = _exact_means(values, ["SUBJ", "MEASURE", "WEEK", "VISIT_DAY"], min_days)
    return means.rename(columns={"MEAN": "AVAL"})


def derive(participants: pd.DataFrame, diary: pd.DataFrame, visits: pd.DataFrame, min_days: int = MIN_DAYS,
           as_of=None) -> Derived:
    """All per-participant derived values of the analysis set, with nothing after the cut-off `as_of`."""
    subjects = analysis_set(participants, as_of)
    scoped = diary_in_scope(diary, subjects)
    daily = daily_values(scoped)
    return Derived(
        subjects=subjects,
        daily=daily,
        h12=h12_values(scoped),
        baseline=baselines(daily, min_days),
        weekly=weekly_values(daily, visit_days(subjects, visits), min_days),
        blinded=is_blinded(subjects),
    )
