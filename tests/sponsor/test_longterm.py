"""The long-term dataset: treatment cycles (cleared, stop, recurrence, days on/off) and their summary."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from analysis.export import export_transfer
from analysis.longterm import derive_cycles, summarize_cycles
from diaries import participants
from tests.conftest import CHICAGO, answer_spread, report_treatment

D = pd.Timestamp


def _events(rows):
    frame = pd.DataFrame(rows, columns=["USUBJID", "KIND", "EVENT_DATE"])
    frame["EVENT_DATE"] = pd.to_datetime(frame["EVENT_DATE"])
    frame["REPORTED_AT"] = frame["EVENT_DATE"].dt.tz_localize("UTC") + pd.Timedelta(hours=20)
    frame["EVENT_ID"] = [f"e{i:03d}" for i in range(len(frame))]
    return frame


def _starts(rows):
    frame = pd.DataFrame(rows, columns=["USUBJID", "LT_START", "LT_END", "DISCONTINUED_ON"])
    for column in ("LT_START", "LT_END", "DISCONTINUED_ON"):
        frame[column] = pd.to_datetime(frame[column])
    return frame


@pytest.fixture
def cycles():
    events = _events([
        ("P1", "cleared", "2026-05-10"), ("P1", "stopped", "2026-05-13"), ("P1", "recurred", "2026-05-30"),
        ("P1", "cleared", "2026-06-10"),  # stop day 06-13 reached by the cut-off without a report
        ("P2", "cleared", "2026-05-20"), ("P2", "recurred", "2026-05-22"),  # before the stop day: cancelled
        ("P2", "recurred", "2026-05-25"),  # a flare while on treatment: no new cycle
        ("P3", "cleared", "2026-05-05"), ("P3", "stopped", "2026-05-08"),
        ("P3", "recurred", "2026-06-15"),  # after discontinuation: ignored
        ("P4", "cleared", "2026-08-10"),  # long-term phase after the cut-off
        ("P5", "recurred", "2026-05-15"),  # the first report is a flare: treatment starts there
        ("P5", "cleared", "2026-05-25"), ("P5", "stopped", "2026-05-28"),
    ])
    starts = _starts([
        ("P1", "2026-05-03", "2027-03-07", None), ("P2", "2026-05-03", "2027-03-07", None),
        ("P3", "2026-05-03", "2027-03-07", "2026-06-01"), ("P4", "2026-08-01", "2027-05-01", None),
        ("P5", "2026-05-03", "2027-03-07", None),
    ])
    return derive_cycles(events, starts, stop_after_days=3, as_of=date(2026, 7, 1))


def test_cycles_from_known_clear_stop_and_recurrence_dates(cycles):
    table = cycles.assign(**{c: cycles[c].dt.strftime("%Y-%m-%d").fillna("")
                             for c in ("START_DATE", "CLEARED_DATE", "STOP_DATE", "RECURRENCE_DATE")})
    assert table.values.tolist() == [
        ["P1", 1, "2026-05-03", "2026-05-10", "2026-05-13", "Y", "2026-05-30", "N", "N", 10, 17],
        ["P1", 2, "2026-05-30", "2026-06-10", "2026-06-13", "N", "", "N", "Y", 14, 19],
        ["P2", 1, "2026-05-03", "2026-05-20", "", "N", "2026-05-22", "Y", "N", 19, 0],
        ["P2", 2, "2026-05-22", "", "", "N", "", "N", "Y", 41, 0],
        ["P3", 1, "2026-05-03", "2026-05-05", "2026-05-08", "Y", "", "N", "Y", 5, 25],
        ["P5", 1, "2026-05-15", "2026-05-25", "2026-05-28", "Y", "", "N", "Y", 13, 35],
    ]
    # Every day of the phase up to the cut-off is on or off treatment, once.
    per = cycles.groupby("USUBJID")[["DAYS_ON", "DAYS_OFF"]].sum().sum(axis=1)
    assert per.to_dict() == {"P1": 60, "P2": 60, "P3": 30, "P5": 48}


def test_a_stop_day_not_yet_reached_is_not_a_stop():
    events = _events([("P1", "cleared", "2026-06-29")])
    starts = _starts([("P1", "2026-05-03", "2027-03-07", None)])
    row = derive_cycles(events, starts, stop_after_days=3, as_of=date(2026, 7, 1)).iloc[0]
    assert pd.isna(row.STOP_DATE) and (row.DAYS_ON, row.DAYS_OFF) == (60, 0)


def test_summary_median_pct_off_and_time_to_first_recurrence(cycles):
    summary = summarize_cycles(cycles).set_index("STATISTIC")
    assert summary.loc["PARTICIPANTS", "N"] == 4 and summary.loc["CYCLES", "N"] == 6
    # % off: P1 36/60, P2 0, P3 25/30, P5 35/48; median of four = mean of the middle two.
    assert summary.loc["MEDIAN_PCT_DAYS_OFF", "VALUE"] == pytest.approx((60 + 100 * 35 / 48) / 2)
    assert summary.loc["PARTICIPANTS_STOPPED", "N"] == 3 and summary.loc["FIRST_RECURRENCES", "N"] == 1
    # 17 days (event), 25 and 35 (censored): survival 2/3 at most, so no median yet.
    assert pd.isna(summary.loc["MEDIAN_DAYS_TO_FIRST_RECURRENCE", "VALUE"])


def test_kaplan_meier_median_time_to_first_recurrence():
    events = _events([(f"P{i}", kind, day) for i, gap in enumerate((5, 9, 20)) for kind, day in (
        ("cleared", "2026-05-10"), ("recurred", str(D("2026-05-13") + pd.Timedelta(days=gap))[:10]))])
    starts = _starts([(f"P{i}", "2026-05-03", "2027-03-07", None) for i in range(3)])
    summary = summarize_cycles(derive_cycles(events, starts, stop_after_days=3, as_of=date(2026, 9, 1)))
    assert summary.set_index("STATISTIC").loc["MEDIAN_DAYS_TO_FIRST_RECURRENCE", "VALUE"] == 9


@pytest.mark.django_db
def test_cycles_csv_in_the_transfer_from_the_database(study, alice, tmp_path):
    participants.change_phase(participant=alice, phase="long_term", actor="system:test")
    participants.record_visit(participant=alice, week=8, visit_date=date(2026, 5, 4), actor="system:test")
    for kind, day in (("cleared", 10), ("stopped", 13), ("recurred", 30)):
        report_treatment(participant=alice, kind=kind, channel="sms",
                                        at=datetime(2026, 5, day, 20, 0, tzinfo=CHICAGO))
    # The spread answer supersedes the recurrence report: one recurrence, not two.
    answer_spread(participant=alice, channel="sms", new_or_extensive=False,
                           at=datetime(2026, 5, 30, 20, 5, tzinfo=CHICAGO))
    manifest = export_transfer(study=study, directory=tmp_path / "t", unblinded=False, as_of=date(2026, 6, 3),
                               now=datetime(2026, 6, 4, tzinfo=UTC))
    assert (tmp_path / "t" / "cycles.csv").read_text().splitlines() == [
        "USUBJID,CYCLE,START_DATE,CLEARED_DATE,STOP_DATE,STOP_REPORTED,RECURRENCE_DATE,STOP_CANCELLED,ONGOING,"
        "DAYS_ON,DAYS_OFF",
        "TRUE-AD-101-0001,1,2026-05-04,2026-05-10,2026-05-13,Y,2026-05-30,N,N,9,17",
        "TRUE-AD-101-0001,2,2026-05-30,,,N,,N,Y,5,0",
    ]
    summary = (tmp_path / "t" / "cycles_summary.csv").read_text().splitlines()
    assert summary[0] == "STATISTIC,N,VALUE,CI_LOW,CI_HIGH"
    assert "MEDIAN_PCT_DAYS_OFF,1,54.83870967741935,," in summary  # 17 of 31 days
    assert {"cycles.csv", "cycles_summary.csv"} <= {f["name"] for f in manifest["files"]}
