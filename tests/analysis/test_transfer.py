"""Canonical CSV: number formatting, sort orders, byte-identical files."""

import random

import numpy as np
import pandas as pd
from scipy.stats import chi2

from analysis.inputs import read_inputs
from analysis.transfer import compute_endpoints, format_numbers, render_csv, write_inputs, write_outputs
from tests.analysis.trial_files import TrialFiles, date_of, h12, itch, participant, promis


def test_numbers_are_python_repr_with_integral_values_as_integers():
    values = np.array([7.0, -0.0, 0.1, 1 / 3, -57.142857142857146, 1e16, 1e-05, 2.5, np.nan, np.inf])
    assert format_numbers(values).tolist() == [
        "7", "0", "0.1", "0.3333333333333333", "-57.142857142857146", "10000000000000000", "1e-05", "2.5", "", "",
    ]  # fmt: skip


def test_rows_sort_by_code_point_and_avisitn_numerically():
    frame = pd.DataFrame(
        {"USUBJID": ["S-é", "S-a", "S-B", "S-a", "S-a"], "AVISITN": [1, 10, 1, 2, 0], "AVAL": [1.5, 2.0, np.nan, 3, 4]}
    )
    text = render_csv(frame.astype({"AVISITN": "Int64"}), ["USUBJID", "AVISITN", "AVAL"], ["USUBJID", "AVISITN"])
    assert text == "USUBJID,AVISITN,AVAL\nS-B,1,\nS-a,0,4\nS-a,2,3\nS-a,10,2\nS-é,1,1.5\n"


def test_text_needing_quotes_is_quoted_and_dates_are_iso():
    frame = pd.DataFrame({"ARM": ['RUX 1,5%', 'say "hi"'], "D": pd.to_datetime(["2026-03-08", None])})
    assert render_csv(frame, ["ARM", "D"], ["ARM"]) == 'ARM,D\n"RUX 1,5%",2026-03-08\n"say ""hi""",\n'


def small_trial() -> TrialFiles:
    runin = {d: 7 for d in range(-7, 0)}
    return TrialFiles(
        [participant("S2", arm="RUX15", stratum=""), participant("S1", arm="VEHICLE"),
         participant("S3", arm="RUX15", first_application="2026-01-12T07:30:00Z")],
        itch("S1", {**runin, 1: 6, 2: 2}) + h12("S1", 6)
        + itch("S2", {**runin, 1: 5, 2: 3, 10: 1}) + promis("S2", {1: [2] * 8, 2: [2, 2, 2, 2, 2]})
        + itch("S3", runin),
        visits=["S2,1,2026-01-20"],
    )  # fmt: skip


def test_output_files_byte_for_byte(tmp_path):
    write_outputs(compute_endpoints(read_inputs(small_trial().write(tmp_path / "in"))), tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["adqs.csv", "compliance.csv", "endpoint_summary.csv",
                                                       "responders.csv"]  # fmt: skip
    adqs = (out / "adqs.csv").read_bytes().decode()
    assert "\r" not in adqs
    assert adqs.splitlines()[:6] == [
        "USUBJID,SITEID,ARM,PARAMCD,PARAM,AVISIT,AVISITN,ADY,AVAL,BASE,CHG,PCHG,ABLFL,DTYPE,NVALS",
        "S1,101,VEHICLE,ITCHH12,Worst itch NRS 12 hours after first application,BASELINE,0,,7,7,,,Y,AVERAGE,7",
        "S1,101,VEHICLE,ITCHH12,Worst itch NRS 12 hours after first application,DAY 1 HOUR 12,1,1,6,7,-1,"
        "-14.285714285714286,,,1",
        "S1,101,VEHICLE,ITCHNRS,Worst itch NRS (daily),BASELINE,0,,7,7,,,Y,AVERAGE,7",
        "S1,101,VEHICLE,ITCHNRS,Worst itch NRS (daily),DAY 1,1,1,6,7,-1,-14.285714285714286,,,1",
        "S1,101,VEHICLE,ITCHNRS,Worst itch NRS (daily),DAY 2,2,2,2,7,-5,-71.42857142857143,,,1",
    ]
    # S2's Week 1 visit on Day 9 (2026-01-20): window Days 2..8 has one value, so no weekly row.
    assert ",ITCHNRSW,Worst itch NRS (weekly mean),WEEK" not in adqs.split("S2,", 1)[1]
    assert "S2,101,RUX15,PSDSB998,PROMIS SD 8b raw score (daily),DAY 2,2,2,16,,,,,,1" in adqs
    assert (out / "compliance.csv").read_text() == (
        "USUBJID,PERIOD,EXPECTED,COMPLETED,PCT\n"
        "S1,RUNIN,7,7,100\nS1,VC,10,2,20\n"
        "S2,RUNIN,7,7,100\nS2,VC,10,3,30\n"
        "S3,RUNIN,7,7,100\nS3,VC,10,0,0\n"
    )
    responders = (out / "responders.csv").read_text().splitlines()
    assert responders[:3] == ["USUBJID,ARM,ENDPOINT,INPOP,RESPONDER,IMPUTED", "S1,VEHICLE,ITCH_NRS4_D2,Y,Y,N",
                              "S1,VEHICLE,ITCH_NRS4_D7,Y,N,Y"]  # fmt: skip
    summary = (out / "endpoint_summary.csv").read_text().splitlines()
    assert summary[0] == "ENDPOINT,ARM,N,RESPONDERS,PCT,MEAN,SD,REF_ARM,DIFF,CI_LOW,CI_HIGH,P_VALUE"
    # RUX15: S2 (day 2: 7 - 3 = 4, a responder) and S3 (missing: NRI); VEHICLE: S1 (7 - 2 = 5).
    # Strata: S1 "A" and S3 "A" (kept), S2 "" (alone, dropped). In stratum A: a=0, E=1/2, V=1/4: chi2 = 1.
    # Newcombe: Wilson limits of 1/2 (0.0945.., 0.9054..) and of 1/1 (0.6097.., 1), square-and-add.
    p = repr(float(chi2.sf(1.0, 1)))
    assert "ITCH_NRS4_D2,RUX15,2,1,50,,,VEHICLE,-50,-90.54687942657694,39.10493441098358," + p in summary
    assert "ITCH_NRS4_D2,VEHICLE,1,1,100,,,,,,," in summary
    assert [line.split(",")[:2] for line in summary[1:]] == sorted(line.split(",")[:2] for line in summary[1:])


def test_outputs_do_not_depend_on_input_row_order(tmp_path):
    files = small_trial()
    write_outputs(compute_endpoints(read_inputs(files.write(tmp_path / "a"))), tmp_path / "out_a")
    random.Random(3).shuffle(files.diary)
    random.Random(4).shuffle(files.participants)
    write_outputs(compute_endpoints(read_inputs(files.write(tmp_path / "b"))), tmp_path / "out_b")
    for name in ["adqs.csv", "responders.csv", "endpoint_summary.csv", "compliance.csv"]:
        assert (tmp_path / "out_a" / name).read_bytes() == (tmp_path / "out_b" / name).read_bytes()


def test_canonical_input_files_round_trip(tmp_path):
    inputs = read_inputs(small_trial().write(tmp_path / "in"))
    write_inputs(inputs, tmp_path / "canonical")
    participants = (tmp_path / "canonical" / "participants.csv").read_text().splitlines()
    assert participants == [
        "USUBJID,SITEID,TZ,FIRST_APPLICATION,ARM,STRATUM,DISCONTINUED_ON",
        "S1,101,Europe/Warsaw,2026-01-12T08:00:00+00:00,VEHICLE,A,",
        "S2,101,Europe/Warsaw,2026-01-12T08:00:00+00:00,RUX15,,",
        "S3,101,Europe/Warsaw,2026-01-12T07:30:00+00:00,RUX15,A,",
    ]
    diary = (tmp_path / "canonical" / "diary.csv").read_text().splitlines()
    s2_promis = [line for line in diary if line.startswith("S2,PROMIS_SD8B,DAILY,2026-01-12")]
    assert [line.split(",")[4] for line in s2_promis] == [str(i) for i in range(1, 9)]
    assert diary[1] == f"S1,ITCH_NRS,DAILY,{date_of(-7)},1,7,{date_of(-7)}T20:00:00+00:00"
    assert (tmp_path / "canonical" / "visits.csv").read_text() == "USUBJID,WEEK,VISIT_DATE\nS2,1,2026-01-20\n"

    again = read_inputs(tmp_path / "canonical")
    write_inputs(again, tmp_path / "canonical_again")
    write_outputs(compute_endpoints(inputs), tmp_path / "out1")
    write_outputs(compute_endpoints(again), tmp_path / "out2")
    for name in ["participants.csv", "diary.csv", "visits.csv"]:
        assert (tmp_path / "canonical" / name).read_bytes() == (tmp_path / "canonical_again" / name).read_bytes()
    for name in ["adqs.csv", "responders.csv", "endpoint_summary.csv", "compliance.csv"]:
        assert (tmp_path / "out1" / name).read_bytes() == (tmp_path / "out2" / name).read_bytes()


def test_timestamps_are_written_in_utc_to_the_second(tmp_path):
    files = TrialFiles([participant("S1", first_application="2026-03-07T23:30:59.75-06:00")])
    write_inputs(read_inputs(files.write(tmp_path / "in")), tmp_path / "out")
    assert "2026-03-08T05:30:59+00:00" in (tmp_path / "out" / "participants.csv").read_text()
