"""Small hand-made transfer files for the analysis tests.

A participant's diary is written by study day, so each test reads like the rule
it checks: `itch("S1", {-7: 6, -6: 6, 1: 2})`.
"""

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

DAY1 = dt.date(2026, 1, 12)  # a Monday in winter time
PARTICIPANT_HEADER = "USUBJID,SITEID,TZ,FIRST_APPLICATION,ARM,STRATUM,DISCONTINUED_ON"
DIARY_HEADER = "USUBJID,INSTRUMENT,TIMEPOINT,DIARY_DATE,ITEM,SCORE,SUBMITTED_AT"
VISIT_HEADER = "USUBJID,WEEK,VISIT_DATE"


def date_of(study_day: int, day1: dt.date = DAY1) -> dt.date:
    """Local date of a study day (no Day 0)."""
    return day1 + dt.timedelta(days=study_day - 1 if study_day >= 1 else study_day)


def participant(usubjid, arm="VEHICLE", stratum="A", tz="Europe/Warsaw", first_application=None, day1=DAY1,
                discontinued_on="", siteid="101") -> str:  # fmt: skip
    if first_application is None:
        first_application = f"{day1}T09:00:00+01:00"
    return f"{usubjid},{siteid},{tz},{first_application},{arm},{stratum},{discontinued_on}"


def itch(usubjid, scores: dict[int, int], day1=DAY1, timepoint="DAILY") -> list[str]:
    return [
        f"{usubjid},ITCH_NRS,{timepoint},{date_of(d, day1)},1,{s},{date_of(d, day1)}T20:00:00+00:00"
        for d, s in scores.items()
    ]


def h12(usubjid, score: int, day1=DAY1) -> list[str]:
    return [f"{usubjid},ITCH_NRS,H12,{day1},1,{score},{day1}T20:00:00+00:00"]


def promis(usubjid, items_by_day: dict[int, list[int]], day1=DAY1) -> list[str]:
    """items_by_day: study day -> scores of items 1, 2, ... (None skips an item)."""
    rows = []
    for d, scores in items_by_day.items():
        for item, score in enumerate(scores, start=1):
            if score is not None:
                rows.append(f"{usubjid},PROMIS_SD8B,DAILY,{date_of(d, day1)},{item},{score},"
                            f"{date_of(d, day1)}T20:00:00+00:00")  # fmt: skip
    return rows


@dataclass
class TrialFiles:
    participants: list[str] = field(default_factory=list)
    diary: list[str] = field(default_factory=list)
    visits: list[str] | None = None

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "participants.csv").write_text("\n".join([PARTICIPANT_HEADER, *self.participants]) + "\n")
        (directory / "diary.csv").write_text("\n".join([DIARY_HEADER, *self.diary]) + "\n")
        if self.visits is not None:
            (directory / "visits.csv").write_text("\n".join([VISIT_HEADER, *self.visits]) + "\n")
        return directory


def run(files: TrialFiles, directory: Path, **options):
    """compute_endpoints on the files, as DataFrames."""
    from analysis.inputs import read_inputs
    from analysis.transfer import compute_endpoints

    return compute_endpoints(read_inputs(files.write(directory)), **options)


def rows(frame, **where) -> list[dict]:
    """Rows of `frame` matching column == value, as dicts."""
    mask = True
    for column, value in where.items():
        mask = mask & (frame[column] == value)
    return frame[mask].to_dict("records")


def one(frame, **where) -> dict:
    found = rows(frame, **where)
    assert len(found) == 1, f"{len(found)} rows match {where}"
    return found[0]
