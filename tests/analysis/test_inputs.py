import datetime as dt

import pandas as pd
import pytest

from analysis.inputs import InputError, read_inputs
from tests.analysis.trial_files import DIARY_HEADER, PARTICIPANT_HEADER, VISIT_HEADER, TrialFiles, itch, participant


def refused(tmp_path, participants=None, diary=None, visits=None) -> list[str]:
    """The problems read_inputs reports for files given as lists of data lines (header added)."""
    files = {"participants.csv": (PARTICIPANT_HEADER, participants), "diary.csv": (DIARY_HEADER, diary),
             "visits.csv": (VISIT_HEADER, visits)}  # fmt: skip
    for name, (header, lines) in files.items():
        if lines is not None:
            (tmp_path / name).write_text("\n".join([header, *lines]) + "\n")
    with pytest.raises(InputError) as refusal:
        read_inputs(tmp_path)
    return refusal.value.problems


GOOD_PARTICIPANT = participant("S1")
GOOD_ITCH = "S1,ITCH_NRS,DAILY,2026-01-12,1,5,2026-01-12T20:00:00+00:00"


def test_valid_files_are_parsed_with_types(tmp_path):
    files = TrialFiles([participant("S1", discontinued_on="2026-02-01"), participant("S2", arm="", first_application="")],
                       itch("S1", {1: 5}), visits=["S1,2,2026-01-27"])  # fmt: skip
    inputs = read_inputs(files.write(tmp_path))
    p = inputs.participants.set_index("USUBJID")
    assert p.loc["S1", "DAY1"] == pd.Timestamp("2026-01-12")
    assert p.loc["S1", "DISCONTINUED_ON"] == pd.Timestamp("2026-02-01")
    assert pd.isna(p.loc["S2", "DISCONTINUED_ON"]) and p.loc["S2", "ARM"] == ""
    assert p.loc["S1", "FIRST_APPLICATION"] == pd.Timestamp("2026-01-12T08:00:00Z")
    diary = inputs.diary.iloc[0]
    assert (diary["USUBJID"], diary["INSTRUMENT"], diary["TIMEPOINT"]) == ("S1", "ITCH_NRS", "DAILY")
    assert (diary["ITEM"], diary["SCORE"], diary["DIARY_DATE"]) == (1, 5, pd.Timestamp("2026-01-12"))
    assert inputs.visits.iloc[0].tolist() == ["S1", 2, pd.Timestamp("2026-01-27")]


def test_day1_is_the_local_date_in_the_participants_zone_on_a_dst_change_day(tmp_path):
    # Written with Chicago's offset: 2026-03-07 23:30 -06:00 is 00:30 EST on 2026-03-08,
    # the day New York springs forward.
    files = TrialFiles([participant("S1", tz="America/New_York", first_application="2026-03-07T23:30:00-06:00")])
    inputs = read_inputs(files.write(tmp_path))
    assert inputs.participants["DAY1"].tolist() == [pd.Timestamp(dt.date(2026, 3, 8))]


def test_visits_file_is_optional_and_extra_columns_are_ignored(tmp_path):
    (tmp_path / "participants.csv").write_text(PARTICIPANT_HEADER + ",NOTE\n" + GOOD_PARTICIPANT + ",hello\n")
    (tmp_path / "diary.csv").write_text("EXTRA," + DIARY_HEADER + "\nx," + GOOD_ITCH + "\n")
    inputs = read_inputs(tmp_path)
    assert list(inputs.participants.columns)[:7] == PARTICIPANT_HEADER.split(",")
    assert "EXTRA" not in inputs.diary.columns and len(inputs.diary) == 1
    assert inputs.visits.empty


def test_missing_files_and_columns(tmp_path):
    (tmp_path / "participants.csv").write_text("USUBJID,SITEID,TZ,ARM,STRATUM,DISCONTINUED_ON\n")
    with pytest.raises(InputError) as refusal:
        read_inputs(tmp_path)
    assert refusal.value.problems == [
        "participants.csv: line 1: missing column FIRST_APPLICATION",
        "diary.csv: line 1: missing file",
    ]


def test_unknown_subjects_in_diary_and_visits(tmp_path):
    problems = refused(tmp_path, [GOOD_PARTICIPANT], [GOOD_ITCH, GOOD_ITCH.replace("S1", "S9")], ["S8,2,2026-01-27"])
    assert problems == ["diary.csv: line 3: unknown subject 'S9'", "visits.csv: line 2: unknown subject 'S8'"]


def test_duplicate_keys_are_compared_parsed_and_shown_as_written(tmp_path):
    problems = refused(
        tmp_path,
        [GOOD_PARTICIPANT, GOOD_PARTICIPANT],
        [GOOD_ITCH, GOOD_ITCH.replace(",1,5,", ",01,6,")],
        ["S1,2,2026-01-27", "S1,02,2026-01-28"],
    )
    assert problems == [
        "participants.csv: line 3: duplicate USUBJID (S1), first on line 2",
        "diary.csv: line 3: duplicate key USUBJID/INSTRUMENT/TIMEPOINT/DIARY_DATE/ITEM "
        "(S1, ITCH_NRS, DAILY, 2026-01-12, 01), first on line 2",
        "visits.csv: line 3: duplicate key USUBJID/WEEK (S1, 02), first on line 2",
    ]


def test_unknown_instrument_and_timepoint(tmp_path):
    problems = refused(tmp_path, [GOOD_PARTICIPANT], [
        GOOD_ITCH.replace("ITCH_NRS", "EASI"),
        GOOD_ITCH.replace("DAILY", "MORNING"),
        "S1,PROMIS_SD8B,H12,2026-01-12,1,3,2026-01-12T20:00:00+00:00",
    ])  # fmt: skip
    assert problems == [
        "diary.csv: line 2: unknown instrument 'EASI'",
        "diary.csv: line 3: unknown timepoint 'MORNING' for ITCH_NRS",
        "diary.csv: line 4: unknown timepoint 'H12' for PROMIS_SD8B",
    ]


def test_items_and_scores_out_of_range_or_not_integers(tmp_path):
    problems = refused(tmp_path, [GOOD_PARTICIPANT], [
        GOOD_ITCH.replace(",1,5,", ",2,5,"),
        GOOD_ITCH.replace(",1,5,", ",1,11,"),
        GOOD_ITCH.replace(",1,5,", ",1,7.0,").replace("2026-01-12,", "2026-01-13,"),
        "S1,PROMIS_SD8B,DAILY,2026-01-12,9,0,2026-01-12T20:00:00+00:00",
        "S1,PROMIS_SD8B,DAILY,2026-01-12,x,3,2026-01-12T20:00:00+00:00",
    ])  # fmt: skip
    assert problems == [
        "diary.csv: line 2: ITEM 2 out of range 1..1 for ITCH_NRS",
        "diary.csv: line 3: SCORE 11 out of range 0..10 for ITCH_NRS",
        "diary.csv: line 4: SCORE '7.0' is not an integer",
        "diary.csv: line 5: ITEM 9 out of range 1..8 for PROMIS_SD8B",
        "diary.csv: line 5: SCORE 0 out of range 1..5 for PROMIS_SD8B",
        "diary.csv: line 6: ITEM 'x' is not an integer",
    ]


def test_bad_dates_timestamps_and_zones(tmp_path):
    problems = refused(
        tmp_path,
        [participant("S1", tz="Mars/Olympus", discontinued_on="2026-02-30"),
         participant("S2", first_application="2026-01-12T09:00:00")],
        [GOOD_ITCH.replace("2026-01-12,", "12/01/2026,"), GOOD_ITCH.replace("+00:00", ""),
         GOOD_ITCH.replace("2026-01-12T20:00:00+00:00", "yesterday").replace("2026-01-12,", "2026-01-13,")],
        ["S1,2,2026-13-01"],
    )  # fmt: skip
    assert problems == [
        "participants.csv: line 2: unknown time zone 'Mars/Olympus'",
        "participants.csv: line 2: bad date DISCONTINUED_ON '2026-02-30' (want YYYY-MM-DD)",
        "participants.csv: line 3: timestamp FIRST_APPLICATION '2026-01-12T09:00:00' has no offset",
        "diary.csv: line 2: bad date DIARY_DATE '12/01/2026' (want YYYY-MM-DD)",
        "diary.csv: line 3: timestamp SUBMITTED_AT '2026-01-12T20:00:00' has no offset",
        "diary.csv: line 4: bad timestamp SUBMITTED_AT 'yesterday' (want ISO 8601 with offset)",
        "visits.csv: line 2: bad date VISIT_DATE '2026-13-01' (want YYYY-MM-DD)",
    ]


def test_more_than_one_h12_record_and_bad_weeks(tmp_path):
    h12 = "S1,ITCH_NRS,H12,{},1,5,2026-01-12T20:00:00+00:00"
    problems = refused(tmp_path, [GOOD_PARTICIPANT], [h12.format("2026-01-12"), h12.format("2026-01-13")],
                       ["S1,0,2026-01-27", "S1,two,2026-01-27", "S1,-1,2026-01-27"])  # fmt: skip
    assert problems == [
        "diary.csv: line 3: more than one H12 record for 'S1', first on line 2",
        "visits.csv: line 2: WEEK '0' is not an integer >= 1",
        "visits.csv: line 3: WEEK 'two' is not an integer >= 1",
        "visits.csv: line 4: WEEK '-1' is not an integer >= 1",
    ]


def test_line_numbers_stay_true_with_blank_lines_and_quoted_fields(tmp_path):
    (tmp_path / "participants.csv").write_text(
        PARTICIPANT_HEADER + '\n"S1",101,Europe/Warsaw,2026-01-12T09:00:00+01:00,"VEHICLE, 1%",A,\n'
    )
    (tmp_path / "diary.csv").write_text(DIARY_HEADER + "\n" + GOOD_ITCH + "\n\n" + GOOD_ITCH.replace("S1", "S7") + "\n")
    with pytest.raises(InputError) as refusal:
        read_inputs(tmp_path)
    assert refusal.value.problems == ["diary.csv: line 4: unknown subject 'S7'"]


def test_ragged_rows_are_reported_with_their_line(tmp_path):
    problems = refused(tmp_path, [GOOD_PARTICIPANT], [GOOD_ITCH, GOOD_ITCH + ",extra", "S1,ITCH_NRS"])
    assert problems == ["diary.csv: line 3: expected 7 fields, found 8", "diary.csv: line 4: expected 7 fields, found 2"]


def test_empty_file_has_no_header(tmp_path):
    (tmp_path / "participants.csv").write_text("")
    (tmp_path / "diary.csv").write_text(DIARY_HEADER + "\n")
    with pytest.raises(InputError) as refusal:
        read_inputs(tmp_path)
    assert refusal.value.problems == ["participants.csv: line 1: empty file, no header"]
