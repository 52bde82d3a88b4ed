"""The long-term phase dataset: treatment cycles per participant and their summary.

Pure pandas over two frames (no ORM; analysis.selectors reads them):

- events: USUBJID, KIND (cleared/recurred/stopped), EVENT_DATE (local date), REPORTED_AT,
  EVENT_ID: current events only (a spread answer supersedes its recurrence report).
- starts: USUBJID, LT_START (Week 8 visit, else nominal Day 57), LT_END (the end-of-study
  visit, else nominal Day 365), DISCONTINUED_ON.

The rules are those of diaries/protocol/cycles.py, the one home of the cycle rule, applied to
every participant at once; tests/analysis/test_longterm_agrees.py checks on random report
sequences that both give the same cycles (DESIGN.md "Long-term phase"):

    CLEAR on D  -> keep treating until D+N, stop on D+N (N = stop_treatment_after_days)
    FLARE on R  -> treatment resumes: the cycle ends and the next one starts on R

- Cycle 1 starts at LT_START (on treatment), or on the first report when that is a FLARE.
- The stop day is the earlier of a reported stop and D+N; a recurrence before it cancels
  the stop (0 days off). An unreported D+N counts once the cut-off reaches it.
- A second CLEAR in a cycle changes nothing (the first dates the cycle); a FLARE in a
  cycle with neither clearance nor stop is a flare while on treatment: no new cycle.
- Days are half-open: on treatment [start, stop), off [stop, recurrence); the last cycle
  runs to the cut-off (the earliest of as-of, DISCONTINUED_ON and LT_END) inclusive.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.transfer import render_csv
from diaries.protocol.cycles import CLEARED, RECURRED, STOPPED

CYCLE_COLUMNS = ["USUBJID", "CYCLE", "START_DATE", "CLEARED_DATE", "STOP_DATE", "STOP_REPORTED",
                 "RECURRENCE_DATE", "STOP_CANCELLED", "ONGOING", "DAYS_ON", "DAYS_OFF"]  # fmt: skip
SUMMARY_COLUMNS = ["STATISTIC", "N", "VALUE", "CI_LOW", "CI_HIGH"]
DAY = np.timedelta64(1, "D")


def derive_cycles(events: pd.DataFrame, starts: pd.DataFrame, *, stop_after_days: int, as_of) -> pd.DataFrame:
    """One row per participant and cycle (the last one open when no recurrence ended it)."""
    starts = starts.copy()
    cutoff = starts["LT_END"].where(starts["LT_END"].notna(), pd.Timestamp("2262-01-01"))
    cutoff = cutoff.where(starts["DISCONTINUED_ON"].isna() | (cutoff <= starts["DISCONTINUED_ON"]),
                          starts["DISCONTINUED_ON"])
    if as_of is not None:
        cutoff = cutoff.clip(upper=pd.Timestamp(as_of))
    starts["CUTOFF"] = cutoff
    # Only participants who reached the long-term phase by the cut-off.
    starts = starts[starts["LT_START"] <= starts["CUTOFF"]].reset_index(drop=True)

    ev = events.merge(starts[["USUBJID", "CUTOFF"]], on="USUBJID", how="inner")
    ev = ev[ev["EVENT_DATE"] <= ev["CUTOFF"]]
    ev = ev.sort_values(["USUBJID", "REPORTED_AT", "EVENT_ID"], kind="stable").reset_index(drop=True)
    subject = ev["USUBJID"]
    is_rec = (ev["KIND"] == RECURRED).to_numpy()
    cs_seen = (~is_rec).astype(np.int64)
    cs_cum = pd.Series(cs_seen).groupby(subject).cumsum().to_numpy()
    # A FLARE ends a cycle iff a CLEAR or stop came since the previous FLARE (any: a FLARE
    # that ended nothing left the state as it was).
    rec_cs = pd.Series(cs_cum[is_rec]).groupby(subject[is_rec].to_numpy()).shift(1).fillna(0).to_numpy()
    closing = np.zeros(len(ev), dtype=bool)
    closing[is_rec] = cs_cum[is_rec] > rec_cs
    closed_before = pd.Series(closing.astype(np.int64)).groupby(subject).cumsum().to_numpy() - closing
    ev["CYCLE"] = closed_before + 1

    n_closed = pd.Series(closing.astype(np.int64)).groupby(subject).sum()
    counts = starts["USUBJID"].map(n_closed).fillna(0).astype(np.int64).to_numpy() + 1
    cycles = pd.DataFrame({
        "USUBJID": np.repeat(starts["USUBJID"].to_numpy(), counts),
        "CYCLE": np.concatenate([np.arange(1, c + 1) for c in counts]) if len(counts) else np.array([], dtype=int),
        "LT_START": np.repeat(starts["LT_START"].to_numpy(), counts),
        "CUTOFF": np.repeat(starts["CUTOFF"].to_numpy(), counts),
    })
    key = ["USUBJID", "CYCLE"]

    def first(mask, name):
        return ev.loc[mask, [*key, "EVENT_DATE"]].groupby(key, sort=False).first().rename(
            columns={"EVENT_DATE": name})

    cycles = (cycles.join(first(ev["KIND"] == CLEARED, "CLEARED_DATE"), on=key)
              .join(first(ev["KIND"] == STOPPED, "REPORTED_STOP"), on=key)
              .join(first(closing, "RECURRENCE_DATE"), on=key))
    for column in ("CLEARED_DATE", "REPORTED_STOP", "RECURRENCE_DATE"):
        cycles[column] = pd.to_datetime(cycles[column])  # all-missing joins come back as object
    first_rows = ev.groupby("USUBJID", sort=False).head(1)
    flare_first = first_rows.loc[first_rows["KIND"] == RECURRED].set_index("USUBJID")["EVENT_DATE"]
    previous_recurrence = cycles.groupby("USUBJID", sort=False)["RECURRENCE_DATE"].shift(1)
    flare_first = cycles[["USUBJID"]].join(flare_first.rename("FIRST_FLARE"), on="USUBJID")["FIRST_FLARE"]
    cycle1_start = pd.to_datetime(flare_first).fillna(cycles["LT_START"])
    cycles["START_DATE"] = previous_recurrence.where(cycles["CYCLE"] > 1, cycle1_start)

    stop_due = cycles["CLEARED_DATE"] + pd.Timedelta(days=stop_after_days)
    stopped = pd.concat([cycles["REPORTED_STOP"], stop_due], axis=1).min(axis=1)
    recurrence = cycles["RECURRENCE_DATE"]
    cancelled = stopped.notna() & recurrence.notna() & (recurrence < stopped)
    not_yet = stopped.notna() & recurrence.isna() & cycles["REPORTED_STOP"].isna() & (cycles["CUTOFF"] < stopped)
    stopped = stopped.where(~(cancelled | not_yet))
    cycle_end = recurrence.fillna(cycles["CUTOFF"] + pd.Timedelta(days=1))
    on_until = stopped.fillna(cycle_end)
    cycles["STOP_DATE"] = stopped
    cycles["STOP_REPORTED"] = np.where(cycles["REPORTED_STOP"].notna(), "Y", "N")
    cycles["STOP_CANCELLED"] = np.where(cancelled, "Y", "N")
    cycles["ONGOING"] = np.where(recurrence.isna(), "Y", "N")
    cycles["DAYS_ON"] = ((on_until - cycles["START_DATE"]) / pd.Timedelta(days=1)).clip(lower=0).astype("int64")
    days_off = ((cycle_end - stopped) / pd.Timedelta(days=1)).clip(lower=0)
    cycles["DAYS_OFF"] = days_off.fillna(0).astype("int64")
    for column in ("START_DATE", "CLEARED_DATE", "STOP_DATE", "RECURRENCE_DATE"):
        cycles[column] = pd.to_datetime(cycles[column]).astype("datetime64[s]")
    return cycles[CYCLE_COLUMNS]


def summarize_cycles(cycles: pd.DataFrame) -> pd.DataFrame:
    """Median % of days off treatment, and time from the first stop to the first recurrence.

    The time to first recurrence is censored at the cut-off for participants who stopped
    and have not flared since; its median and 95% CI are Kaplan-Meier estimates.
    """
    from statsmodels.duration.survfunc import SurvfuncRight

    per = cycles.groupby("USUBJID", sort=True)[["DAYS_ON", "DAYS_OFF"]].sum()
    total = per["DAYS_ON"] + per["DAYS_OFF"]
    pct_off = (100 * per["DAYS_OFF"] / total)[total > 0]
    stopped = cycles[cycles["STOP_DATE"].notna()].groupby("USUBJID", sort=True).head(1)
    time = stopped["DAYS_OFF"].to_numpy(dtype=float)
    event = (stopped["ONGOING"] == "N").to_numpy()
    rows = [
        ("PARTICIPANTS", len(per), np.nan, np.nan, np.nan),
        ("CYCLES", len(cycles), np.nan, np.nan, np.nan),
        ("MEDIAN_PCT_DAYS_OFF", len(pct_off), pct_off.median() if len(pct_off) else np.nan, np.nan, np.nan),
        ("PARTICIPANTS_STOPPED", len(stopped), np.nan, np.nan, np.nan),
        ("FIRST_RECURRENCES", int(event.sum()), np.nan, np.nan, np.nan),
    ]
    median, low, high = np.nan, np.nan, np.nan
    if event.any():
        fit = SurvfuncRight(time, event.astype(int))
        median = fit.quantile(0.5)
        # The CI transform takes log(-log(S)): S = 0 or 1 gives an open bound, not an error.
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = fit.quantile_ci(0.5)
    rows.append(("MEDIAN_DAYS_TO_FIRST_RECURRENCE", len(stopped), median, low, high))
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    for column in ("VALUE", "CI_LOW", "CI_HIGH"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frame["N"] = frame["N"].astype("int64")
    return frame


def write_cycles(cycles: pd.DataFrame, summary: pd.DataFrame, directory) -> None:
    """cycles.csv (sorted by USUBJID, CYCLE) and cycles_summary.csv, in the transfer's canonical CSV."""
    directory = Path(directory)
    (directory / "cycles.csv").write_bytes(render_csv(cycles, CYCLE_COLUMNS, ["USUBJID", "CYCLE"]).encode())
    (directory / "cycles_summary.csv").write_bytes(
        render_csv(summary.assign(_ORDER=np.arange(len(summary))), SUMMARY_COLUMNS, ["_ORDER"]).encode())
