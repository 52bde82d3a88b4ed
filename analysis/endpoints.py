"""Derived values and endpoints (ENDPOINTS.md sections 3 and 4), as pure functions over DataFrames.

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
# Means of integers are not exact in floats: 6.333.. - 2.333.. must reach 4.
THRESHOLD_TOLERANCE = 1e-9
BLINDED_GROUP = "ALL"
_NO_DISCONTINUATION = np.iinfo(np.int64).max


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

ADQS_COLUMNS = ["USUBJID", "SITEID", "ARM", "PARAMCD", "PARAM", "AVISIT", "AVISITN", "ADY", "AVAL", "BASE",
                "CHG", "PCHG", "ABLFL", "DTYPE", "NVALS"]  # fmt: skip
RESPONDER_COLUMNS = ["USUBJID", "ARM", "ENDPOINT", "INPOP", "RESPONDER", "IMPUTED"]
COMPLIANCE_COLUMNS = ["USUBJID", "PERIOD", "EXPECTED", "COMPLETED", "PCT"]


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

COMPLIANCE_PERIODS = {"RUNIN": (-7, -1), "VC": (1, 56)}


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
                                 _NO_DISCONTINUATION),
            "REACHED": _reached_study_day(day_number(subjects["DAY1"]), as_of),
        }  # fmt: skip
    )


def _reached_study_day(day1: np.ndarray, as_of) -> np.ndarray:
    """Study day of the cut-off date per participant (every time point reached without a cut-off)."""
    if as_of is None:
        return np.full(len(day1), _NO_DISCONTINUATION, dtype=np.int64)
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


# -- adqs ---------------------------------------------------------------------------------


def adqs_rows(derived: Derived) -> pd.DataFrame:
    """The rows of adqs.csv (unsorted), one per parameter and analysis visit with a value.

    Text columns are categoricals built from codes: adqs has millions of rows at
    trial scale and only a few hundred distinct labels.
    """
    base, weekly, h12 = derived.baseline, derived.weekly, derived.h12
    daily = derived.daily[derived.daily["STUDY_DAY"] >= 1]
    parts = []
    for index, parameter in enumerate(PARAMETERS):
        measure = parameter.measure
        b = base[base["MEASURE"] == measure]
        parts.append(_visits(index, _BASELINE, b["SUBJ"], 0, _MISSING, b["BASE"], b["NVALS"]))
        if parameter.kind == "daily":
            d = daily[daily["MEASURE"] == measure]
            parts.append(_visits(index, _DAY, d["SUBJ"], d["STUDY_DAY"], d["STUDY_DAY"], d["AVAL"], 1))
        elif parameter.kind == "weekly":
            w = weekly[weekly["MEASURE"] == measure]
            parts.append(_visits(index, _WEEK, w["SUBJ"], w["WEEK"], w["VISIT_DAY"], w["AVAL"], w["NVALS"]))
        else:
            parts.append(_visits(index, _HOUR12, h12["SUBJ"], 1, h12["STUDY_DAY"], h12["AVAL"], 1))
    rows = {column: np.concatenate([part[column] for part in parts]) for column in parts[0]}

    subj, parameter, kind = rows["SUBJ"], rows["PARAMETER"], rows["KIND"]
    measure = np.array([MEASURES.index(p.measure) for p in PARAMETERS])[parameter]
    baseline_of = np.full((len(derived.subjects), len(MEASURES)), np.nan)
    baseline_of[base["SUBJ"].to_numpy(), base["MEASURE"].cat.codes.to_numpy()] = base["BASE"].to_numpy()
    base_value = baseline_of[subj, measure]
    post = kind != _BASELINE
    chg = np.where(post, rows["AVAL"] - base_value, np.nan)
    # PCHG is undefined for a zero baseline and not meaningful on the T-score scale.
    pchg_ok = post & (base_value != 0) & np.isfinite(base_value) & (measure != MEASURES.index(TSCORE))
    pchg = np.full(len(chg), np.nan)
    np.divide(100 * chg, base_value, out=pchg, where=pchg_ok)

    subjects = derived.subjects
    arm = np.full(len(subjects), "", dtype=object) if derived.blinded else subjects["ARM"].to_numpy()
    avisit_codes, avisit_labels = _avisit_labels(kind, rows["AVISITN"])
    return pd.DataFrame(
        {
            "USUBJID": _labels(subj, subjects["USUBJID"].to_numpy()),
            "SITEID": _labels(subj, subjects["SITEID"].to_numpy()),
            "ARM": _labels(subj, arm),
            "PARAMCD": _labels(parameter, [p.paramcd for p in PARAMETERS]),
            "PARAM": _labels(parameter, [p.param for p in PARAMETERS]),
            "AVISIT": _labels(avisit_codes, avisit_labels),
            "AVISITN": pd.array(rows["AVISITN"], dtype="Int64"),
            "ADY": pd.arrays.IntegerArray(rows["ADY"], mask=rows["ADY"] == _MISSING),
            "AVAL": rows["AVAL"],
            "BASE": base_value,
            "CHG": chg,
            "PCHG": pchg,
            "ABLFL": _labels(post.astype(np.int8), ["Y", ""]),
            "DTYPE": _labels(np.isin(kind, [_BASELINE, _WEEK]).astype(np.int8), ["", "AVERAGE"]),
            "NVALS": pd.array(rows["NVALS"], dtype="Int64"),
        }
    )


# Kinds of analysis visit in adqs.
_BASELINE, _DAY, _HOUR12, _WEEK = range(4)
_MISSING = np.iinfo(np.int64).min


def _visits(parameter, kind, subj, avisitn, ady, aval, nvals) -> dict[str, np.ndarray]:
    n = len(subj)
    return {
        "SUBJ": np.asarray(subj, dtype=np.int64),
        "PARAMETER": np.full(n, parameter, dtype=np.int64),
        "KIND": np.full(n, kind, dtype=np.int64),
        "AVISITN": np.broadcast_to(np.asarray(avisitn, dtype=np.int64), (n,)),
        "ADY": np.broadcast_to(np.asarray(ady, dtype=np.int64), (n,)),
        "AVAL": np.asarray(aval, dtype=float),
        "NVALS": np.broadcast_to(np.asarray(nvals, dtype=np.int64), (n,)),
    }


def _avisit_labels(kind: np.ndarray, avisitn: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """AVISIT as codes into its few distinct labels (BASELINE, DAY d, DAY 1 HOUR 12, WEEK w)."""
    codes, pairs = pd.factorize(kind * 1_000_000 + avisitn)  # study days stay far below a million
    names = {_BASELINE: "BASELINE", _DAY: "DAY {}", _HOUR12: "DAY 1 HOUR 12", _WEEK: "WEEK {}"}
    return codes, [names[p // 1_000_000].format(p % 1_000_000) for p in pairs.tolist()]


def _labels(codes, labels) -> pd.Categorical:
    """A categorical column from integer codes; labels may repeat (e.g. the empty ARM)."""
    unique, inverse = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    return pd.Categorical.from_codes(inverse[np.asarray(codes)], categories=unique)


# -- endpoints ----------------------------------------------------------------------------


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


# -- compliance ---------------------------------------------------------------------------


def compliance_rows(diary: pd.DataFrame, subjects: pd.DataFrame, as_of) -> pd.DataFrame:
    """Expected and completed daily itch diaries per participant in run-in and the VC period.

    A day is expected when it is on or before the earlier of DISCONTINUED_ON and
    `as_of` (a date, or None for no cut-off).
    """
    cutoff = subjects["LAST_DAY"].to_numpy()
    if as_of is not None:
        cutoff = np.minimum(cutoff, day_number(np.array([np.datetime64(as_of, "D")]))[0])
    day1 = subjects["DAY1"].to_numpy()
    open_ended = cutoff == _NO_DISCONTINUATION
    last_study_day = np.where(open_ended, np.iinfo(np.int32).max, study_day(np.where(open_ended, day1, cutoff), day1))

    itch = diary[(diary["INSTRUMENT"] == ITCH_NRS) & (diary["TIMEPOINT"] == DAILY)]
    subj = subject_codes(itch["USUBJID"], subjects)
    inside = subj >= 0
    subj = subj[inside]
    days = study_day(day_number(itch["DIARY_DATE"].to_numpy()[inside]), day1[subj])

    n = len(subjects)
    parts = []
    for period, (first, last) in COMPLIANCE_PERIODS.items():
        # Neither period contains 0, so study-day arithmetic counts calendar days here.
        period_end = np.minimum(last, last_study_day)
        expected = np.maximum(0, period_end - first + 1)
        counted = (days >= first) & (days <= period_end[subj])
        completed = np.bincount(subj[counted], minlength=n)
        pct = np.full(n, np.nan)
        np.divide(100 * completed, expected, out=pct, where=expected > 0)
        parts.append(
            pd.DataFrame(
                {"USUBJID": subjects["USUBJID"].to_numpy(), "PERIOD": period,
                 "EXPECTED": expected, "COMPLETED": completed, "PCT": pct}
            )  # fmt: skip
        )
    return pd.concat(parts, ignore_index=True)[COMPLIANCE_COLUMNS]
