"""compliance.csv (ENDPOINTS.md section 5): expected and completed daily itch diaries per participant in
run-in and the vehicle-controlled period, as a pure function over DataFrames.
"""

import numpy as np
import pandas as pd

from analysis.derived import NO_DISCONTINUATION, subject_codes
from analysis.inputs import DAILY
from analysis.scoring import ITCH_NRS, day_number, study_day

COMPLIANCE_COLUMNS = ["USUBJID", "PERIOD", "EXPECTED", "COMPLETED", "PCT"]
COMPLIANCE_PERIODS = {"RUNIN": (-7, -1), "VC": (1, 56)}


def compliance_rows(diary: pd.DataFrame, subjects: pd.DataFrame, as_of) -> pd.DataFrame:
    """Expected and completed daily itch diaries per participant in run-in and the VC period.

    A day is expected when it is on or before the earlier of DISCONTINUED_ON and
    `as_of` (a date, or None for no cut-off).
    """
    cutoff = subjects["LAST_DAY"].to_numpy()
    if as_of is not None:
        cutoff = np.minimum(cutoff, day_number(np.array([np.datetime64(as_of, "D")]))[0])
    day1 = subjects["DAY1"].to_numpy()
    open_ended = cutoff == NO_DISCONTINUATION
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
