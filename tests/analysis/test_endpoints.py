"""Derivation rules of ENDPOINTS.md sections 3 and 4, each on a hand-computed little trial."""

import math

import pandas as pd
import pytest

from analysis.inputs import InputError
from tests.analysis.trial_files import TrialFiles, date_of, h12, itch, one, participant, promis, rows, run

RUNIN = range(-7, 0)


def adqs_row(out, usubjid, paramcd, avisitn):
    return one(out["adqs"], USUBJID=usubjid, PARAMCD=paramcd, AVISITN=avisitn)


def responder(out, usubjid, endpoint):
    row = one(out["responders"], USUBJID=usubjid, ENDPOINT=endpoint)
    return row["INPOP"], row["RESPONDER"], row["IMPUTED"]


# -- baseline -------------------------------------------------------------------------------


def test_baseline_needs_four_run_in_days(tmp_path):
    files = TrialFiles(
        [participant("THREE"), participant("FOUR")],
        itch("THREE", {-7: 6, -6: 7, -5: 8, 1: 5}) + itch("FOUR", {-4: 6, -3: 7, -2: 8, -1: 9, 1: 5}),
    )
    out = run(files, tmp_path)
    assert rows(out["adqs"], USUBJID="THREE", AVISIT="BASELINE") == []
    assert pd.isna(adqs_row(out, "THREE", "ITCHNRS", 1)["BASE"])
    base = adqs_row(out, "FOUR", "ITCHNRS", 0)
    assert (base["AVAL"], base["BASE"], base["NVALS"], base["ABLFL"], base["DTYPE"]) == (7.5, 7.5, 4, "Y", "AVERAGE")
    assert pd.isna(base["ADY"]) and pd.isna(base["CHG"]) and pd.isna(base["PCHG"])
    assert responder(out, "THREE", "ITCH_NRS4_D2") == ("N", "", "")


def test_min_days_is_configurable(tmp_path):
    files = TrialFiles([participant("THREE")], itch("THREE", {-7: 6, -6: 7, -5: 8}))
    out = run(files, tmp_path, min_days=3)
    assert adqs_row(out, "THREE", "ITCHNRS", 0)["AVAL"] == 7


def test_values_before_day_minus_7_are_ignored(tmp_path):
    files = TrialFiles([participant("S1")], itch("S1", {-9: 0, -8: 0, -7: 6, -6: 6, -5: 6, -4: 6}))
    out = run(files, tmp_path)
    assert adqs_row(out, "S1", "ITCHNRS", 0)["AVAL"] == 6
    assert adqs_row(out, "S1", "ITCHNRS", 0)["NVALS"] == 4


# -- weekly values ----------------------------------------------------------------------------


def test_weekly_value_uses_the_actual_visit_day(tmp_path):
    # Nominal Week 2 is Day 15 (window Days 8..14, mean 50/7); the visit happened on Day 17.
    scores = {d: 0 if d < 10 else 10 for d in range(1, 21)}
    files = TrialFiles([participant("S1")], itch("S1", scores), visits=[f"S1,2,{date_of(17)}"])
    out = run(files, tmp_path, as_of=date_of(21))  # Week 3's last day: evaluable
    week2 = adqs_row(out, "S1", "ITCHNRSW", 2)
    assert (week2["AVISIT"], week2["ADY"], week2["AVAL"], week2["NVALS"]) == ("WEEK 2", 17, 10, 7)
    week3 = adqs_row(out, "S1", "ITCHNRSW", 3)  # no visit recorded: nominal Day 22, Days 15..21
    assert (week3["ADY"], week3["AVAL"], week3["NVALS"]) == (22, 10, 6)


def test_nominal_week_8_averages_days_50_to_56(tmp_path):
    files = TrialFiles([participant("S1")], itch("S1", {49: 0, **{d: 3 for d in range(50, 57)}, 57: 0}))
    week8 = adqs_row(run(files, tmp_path), "S1", "ITCHNRSW", 8)
    assert (week8["ADY"], week8["AVAL"], week8["NVALS"], week8["DTYPE"]) == (57, 3, 7, "AVERAGE")


def test_window_crossing_day_1_spans_six_calendar_days(tmp_path):
    # Week 1 visit on Day 3: window Days -4..2, which has no Day 0.
    scores = {**{d: 8 for d in RUNIN}, **{d: 2 for d in range(1, 8)}}
    files = TrialFiles([participant("S1")], itch("S1", scores), visits=[f"S1,1,{date_of(3)}"])
    week1 = adqs_row(run(files, tmp_path), "S1", "ITCHNRSW", 1)
    assert (week1["ADY"], week1["NVALS"], week1["AVAL"]) == (3, 6, (4 * 8 + 2 * 2) / 6)


# -- time -------------------------------------------------------------------------------------


def test_study_days_of_a_participant_whose_day_1_is_a_dst_change_day(tmp_path):
    # Day 1 = 2026-03-08 in New York (spring forward), written with a -06:00 offset.
    day1 = pd.Timestamp("2026-03-08").date()
    files = TrialFiles(
        [participant("NY", tz="America/New_York", first_application="2026-03-07T23:30:00-06:00")],
        itch("NY", {d: 7 for d in [*RUNIN, 1, 2]}, day1=day1) + h12("NY", 5, day1=day1),
    )
    out = run(files, tmp_path)
    assert [r["ADY"] for r in rows(out["adqs"], USUBJID="NY", PARAMCD="ITCHNRS")][1:] == [1, 2]
    hour12 = adqs_row(out, "NY", "ITCHH12", 1)
    assert (hour12["AVISIT"], hour12["ADY"], hour12["AVAL"], hour12["CHG"]) == ("DAY 1 HOUR 12", 1, 5, -2)
    assert pd.isna(hour12["DTYPE"]) or hour12["DTYPE"] == ""


# -- PROMIS -----------------------------------------------------------------------------------


def test_promis_daily_rows_with_8_5_and_3_items(tmp_path):
    files = TrialFiles([participant("S1")], promis("S1", {
        1: [3, 3, 3, 3, 3, 3, 3, 3],  # 24
        2: [3, 3, 3, 2, 2, None, None, None],  # 13 * 8 / 5 = 20.8 -> 21
        3: [5, 5, 5],  # 3 items: missing
    }))  # fmt: skip
    out = run(files, tmp_path)
    assert [(r["AVISITN"], r["AVAL"]) for r in rows(out["adqs"], PARAMCD="PSDSB998")] == [(1, 24), (2, 21)]
    assert [(r["AVISITN"], r["AVAL"]) for r in rows(out["adqs"], PARAMCD="PSDSB999")] == [(1, 54.3), (2, 51.2)]


def test_tscore_baseline_and_weekly_are_means_of_daily_tscores_without_pchg(tmp_path):
    runin = {d: [3] * 8 if d % 2 else [2] * 8 for d in RUNIN}  # raw 24 (T 54.3) and 16 (T 45.5)
    files = TrialFiles([participant("S1")], promis("S1", {**runin, **{d: [1] * 8 for d in range(8, 15)}}))
    out = run(files, tmp_path)
    base = adqs_row(out, "S1", "PSDSB99W", 0)
    # T-scores have one decimal, so the mean is taken exactly: (4 * 543 + 3 * 455) / 70.
    assert base["AVAL"] == 3537 / 70 and base["NVALS"] == 7
    week2 = adqs_row(out, "S1", "PSDSB99W", 2)
    assert week2["AVAL"] == 28.9 and week2["CHG"] == 28.9 - 3537 / 70
    assert pd.isna(week2["PCHG"])
    raw_week2 = adqs_row(out, "S1", "PSDSB98W", 2)
    assert raw_week2["AVAL"] == 8 and math.isclose(raw_week2["PCHG"], 100 * (8 - 144 / 7) / (144 / 7))


# -- CHG and PCHG -----------------------------------------------------------------------------


def test_zero_baseline_has_chg_but_no_pchg(tmp_path):
    files = TrialFiles([participant("S1")], itch("S1", {**{d: 0 for d in RUNIN}, 1: 2}))
    day1 = adqs_row(run(files, tmp_path), "S1", "ITCHNRS", 1)
    assert (day1["BASE"], day1["CHG"]) == (0, 2) and pd.isna(day1["PCHG"])


def test_chg_and_pchg_on_daily_rows(tmp_path):
    files = TrialFiles([participant("S1")], itch("S1", {**{d: 8 for d in RUNIN}, 2: 2}))
    day2 = adqs_row(run(files, tmp_path), "S1", "ITCHNRS", 2)
    assert (day2["ADY"], day2["AVAL"], day2["BASE"], day2["CHG"], day2["PCHG"], day2["NVALS"]) == (2, 2, 8, -6, -75, 1)
    assert day2["ABLFL"] == "" and day2["DTYPE"] == ""


# -- discontinuation and NRI ------------------------------------------------------------------


def test_values_after_discontinuation_are_ignored_and_nri_applies(tmp_path):
    scores = {**{d: 8 for d in RUNIN}, **{d: 1 for d in range(1, 20)}}
    files = TrialFiles([participant("S1", discontinued_on=str(date_of(10)))], itch("S1", scores))
    out = run(files, tmp_path)
    days = [r["AVISITN"] for r in rows(out["adqs"], USUBJID="S1", PARAMCD="ITCHNRS")]
    assert days == [0, *range(1, 11)]  # Day 10, the discontinuation date, is kept
    assert rows(out["adqs"], USUBJID="S1", PARAMCD="ITCHNRSW", AVISITN=2) == []  # Days 8..10 only: 3 values
    assert responder(out, "S1", "ITCH_NRS4_W2") == ("Y", "N", "Y")
    assert responder(out, "S1", "ITCH_NRS4_D7") == ("Y", "Y", "N")


# -- responders -------------------------------------------------------------------------------


def test_baseline_3_is_outside_the_itch_population(tmp_path):
    files = TrialFiles([participant("S1")], itch("S1", {**{d: 3 for d in RUNIN}, 2: 0}))
    out = run(files, tmp_path)
    assert responder(out, "S1", "ITCH_NRS4_D2") == ("N", "", "")
    assert responder(out, "S1", "PROMIS_SD6_W2") == ("N", "", "")


def test_an_improvement_of_exactly_4_from_float_means_reaches_the_threshold(tmp_path):
    # Baseline 38/6 = 6.333.., Week 2 mean 14/6 = 2.333..; in doubles the difference is 3.9999999999999996.
    runin = dict(zip(range(-6, 0), [6, 6, 7, 6, 6, 7], strict=True))
    week2 = dict(zip(range(8, 14), [2, 2, 3, 2, 2, 3], strict=True))
    assert 38 / 6 - 14 / 6 < 4
    out = run(TrialFiles([participant("S1")], itch("S1", {**runin, **week2})), tmp_path, as_of=date_of(28))
    assert responder(out, "S1", "ITCH_NRS4_W2") == ("Y", "Y", "N")
    assert responder(out, "S1", "ITCH_NRS4_W4") == ("Y", "N", "Y")


def test_daily_responder_looks_at_that_day_only(tmp_path):
    files = TrialFiles([participant("S1")], itch("S1", {**{d: 8 for d in RUNIN}, 2: 5, 3: 0, 7: 4}))
    out = run(files, tmp_path)
    assert responder(out, "S1", "ITCH_NRS4_D2") == ("Y", "N", "N")
    assert responder(out, "S1", "ITCH_NRS4_D7") == ("Y", "Y", "N")


def test_promis_population_needs_baseline_14_and_responder_6_points(tmp_path):
    runin = {d: [2, 2, 2, 2, 2, 2, 1, 1] for d in RUNIN}  # raw 14
    files = TrialFiles([participant("IN"), participant("OUT")], promis("IN", {**runin, **{d: [1] * 8 for d in
                       range(8, 15)}}) + promis("OUT", {d: [2, 2, 2, 2, 2, 1, 1, 1] for d in RUNIN}))  # fmt: skip
    out = run(files, tmp_path, as_of=date_of(56))
    assert responder(out, "IN", "PROMIS_SD6_W2") == ("Y", "Y", "N")
    assert responder(out, "IN", "PROMIS_SD6_W8") == ("Y", "N", "Y")
    assert responder(out, "OUT", "PROMIS_SD6_W2") == ("N", "", "")


def test_every_analysis_set_participant_has_every_binary_endpoint(tmp_path):
    files = TrialFiles([participant("S1"), participant("S2"), participant("SCREENFAIL", first_application="")])
    out = run(files, tmp_path)
    assert sorted(set(out["responders"]["USUBJID"])) == ["S1", "S2"]
    assert out["responders"]["ENDPOINT"].tolist()[:8] == [
        "ITCH_NRS4_D2", "ITCH_NRS4_D7", "ITCH_NRS4_W2", "ITCH_NRS4_W4", "ITCH_NRS4_W8",
        "PROMIS_SD6_W2", "PROMIS_SD6_W4", "PROMIS_SD6_W8",
    ]  # fmt: skip
    assert "SCREENFAIL" not in set(out["compliance"]["USUBJID"])


# -- blinding ---------------------------------------------------------------------------------


def test_no_participant_with_an_arm_blinds_every_output(tmp_path):
    files = TrialFiles([participant("S1", arm=""), participant("S2", arm="")],
                       itch("S1", {**{d: 8 for d in RUNIN}, 2: 1}) + itch("S2", {**{d: 8 for d in RUNIN}, 2: 1}))
    out = run(files, tmp_path)
    assert set(out["adqs"]["ARM"]) == {""}
    assert set(out["responders"]["ARM"]) == {""}
    summary = out["endpoint_summary"]
    assert set(summary["ARM"]) == {"ALL"} and len(summary) == 13
    d2 = one(summary, ENDPOINT="ITCH_NRS4_D2")
    assert (d2["N"], d2["RESPONDERS"], d2["PCT"], d2["REF_ARM"]) == (2, 2, 100, "")
    assert pd.isna(d2["DIFF"]) and pd.isna(d2["P_VALUE"])


def test_a_mix_of_randomized_and_unrandomized_participants_is_never_pooled(tmp_path):
    from analysis.derived import derive
    from analysis.inputs import read_inputs

    files = TrialFiles([participant("S1", arm="RUX15"), participant("S2", arm=""),
                        participant("S3", arm="", first_application="")])  # S3 is not in the analysis set
    with pytest.raises(InputError) as refusal:
        read_inputs(files.write(tmp_path))
    assert refusal.value.problems == [
        "participants.csv: line 3: ARM is empty for S2 (site 101, Day 1 2026-01-12) while other participants of "
        "the analysis set have one: randomize or exclude them"]
    # Frames that skip the file checks are refused by the engine too.
    inputs = read_inputs(TrialFiles([participant("S1", arm="RUX15")]).write(tmp_path / "ok"))
    mixed = pd.concat([inputs.participants, inputs.participants.assign(USUBJID="S2", ARM="")])
    with pytest.raises(ValueError, match="refusing to pool"):
        derive(mixed, inputs.diary, inputs.visits)


def test_arms_are_reported_when_every_participant_has_one(tmp_path):
    files = TrialFiles([participant("S1", arm="RUX15"), participant("S2", arm="VEHICLE")])
    out = run(files, tmp_path)
    assert out["responders"].drop_duplicates("USUBJID")["ARM"].tolist() == ["RUX15", "VEHICLE"]


# -- compliance -------------------------------------------------------------------------------


def test_compliance_counts_expected_days_up_to_the_latest_diary_date(tmp_path):
    files = TrialFiles(
        [participant("S1"), participant("S2", discontinued_on=str(date_of(3)))],
        itch("S1", {-7: 5, -6: 5, -4: 5, -3: 5, -1: 5, 1: 5, 2: 5, 4: 5, 10: 5})
        + itch("S2", {-1: 5, 1: 5, 2: 5, 3: 5, 4: 5, 5: 5}),
    )
    out = run(files, tmp_path)
    table = {(r["USUBJID"], r["PERIOD"]): (r["EXPECTED"], r["COMPLETED"], r["PCT"]) for r in
             out["compliance"].to_dict("records")}  # fmt: skip
    assert table[("S1", "RUNIN")] == (7, 5, 100 * 5 / 7)
    assert table[("S1", "VC")] == (10, 4, 40)  # as of Day 10, the latest diary date
    assert table[("S2", "VC")] == (3, 3, 100)  # capped by DISCONTINUED_ON (Day 3)


def test_as_of_caps_compliance_and_nothing_expected_leaves_pct_empty(tmp_path):
    files = TrialFiles([participant("S1")], itch("S1", {-7: 5, -6: 5, 1: 5, 2: 5}))
    out = run(files, tmp_path, as_of=date_of(-6))
    runin = one(out["compliance"], USUBJID="S1", PERIOD="RUNIN")
    vc = one(out["compliance"], USUBJID="S1", PERIOD="VC")
    assert (runin["EXPECTED"], runin["COMPLETED"], runin["PCT"]) == (2, 2, 100)
    assert (vc["EXPECTED"], vc["COMPLETED"]) == (0, 0) and pd.isna(vc["PCT"])
    # The cut-off is also the analysis's: nothing after it counts (2 run-in days: no baseline either).
    assert rows(out["adqs"], PARAMCD="ITCHNRS") == []
    assert len(rows(run(files, tmp_path, as_of=date_of(1))["adqs"], PARAMCD="ITCHNRS")) == 1


@pytest.mark.parametrize("arm", ["RUX15", ""])
def test_h12_change_is_an_observed_case_endpoint(tmp_path, arm):
    files = TrialFiles([participant("S1", arm=arm)], itch("S1", {d: 6 for d in RUNIN}) + h12("S1", 4))
    summary = run(files, tmp_path)["endpoint_summary"]
    group = arm or "ALL"
    row = one(summary, ENDPOINT="ITCH_CHG_H12", ARM=group)
    assert (row["N"], row["MEAN"]) == (1, -2) and pd.isna(row["SD"]) and pd.isna(row["RESPONDERS"])


# -- data cut-off (evaluability) ----------------------------------------------------------------


def _week2_trial():
    # Baseline 8, then 2 every day: a Week 2 responder once Week 2 is reached (study day 14).
    return TrialFiles([participant("S1", arm="RUX15"), participant("S2", arm="VEHICLE")],
                      itch("S1", {**{d: 8 for d in RUNIN}, **{d: 2 for d in range(1, 21)}})
                      + itch("S2", {**{d: 8 for d in RUNIN}, **{d: 7 for d in range(1, 21)}}))


def test_week_2_is_not_evaluable_one_day_before_its_last_day(tmp_path):
    out = run(_week2_trial(), tmp_path, as_of=date_of(13))
    assert responder(out, "S1", "ITCH_NRS4_W2") == ("N", "", "")
    assert rows(out["adqs"], USUBJID="S1", PARAMCD="ITCHNRSW", AVISITN=2) == []
    assert [r["AVISITN"] for r in rows(out["adqs"], USUBJID="S1", PARAMCD="ITCHNRSW")] == [0, 1]
    # Values after the cut-off are ignored everywhere, daily rows included.
    assert max(r["AVISITN"] for r in rows(out["adqs"], USUBJID="S1", PARAMCD="ITCHNRS")) == 13
    for arm in ("RUX15", "VEHICLE"):
        w2 = one(out["endpoint_summary"], ENDPOINT="ITCH_NRS4_W2", ARM=arm)
        assert w2["N"] == 0 and pd.isna(w2["PCT"]) and pd.isna(w2["DIFF"]) and w2["REF_ARM"] == ""
        assert one(out["endpoint_summary"], ENDPOINT="ITCH_CHG_W2", ARM=arm)["N"] == 0
    # Day 7 was reached: counted as usual.
    assert one(out["endpoint_summary"], ENDPOINT="ITCH_NRS4_D7", ARM="RUX15")["N"] == 1


def test_week_2_is_evaluable_on_its_last_day(tmp_path):
    out = run(_week2_trial(), tmp_path, as_of=date_of(14))
    assert responder(out, "S1", "ITCH_NRS4_W2") == ("Y", "Y", "N")
    assert responder(out, "S2", "ITCH_NRS4_W2") == ("Y", "N", "N")
    w2 = one(out["endpoint_summary"], ENDPOINT="ITCH_NRS4_W2", ARM="RUX15")
    assert (w2["N"], w2["RESPONDERS"], w2["PCT"], w2["REF_ARM"], w2["DIFF"]) == (1, 1, 100, "VEHICLE", 100)
    # A later Week stays "not yet reached", never 0%.
    w4 = one(out["endpoint_summary"], ENDPOINT="ITCH_NRS4_W4", ARM="RUX15")
    assert w4["N"] == 0 and pd.isna(w4["PCT"])


def test_default_cut_off_is_the_latest_diary_date(tmp_path):
    # Latest diary date is Day 20: Week 2 reached, Week 4 (Day 28) not.
    out = run(_week2_trial(), tmp_path)
    assert responder(out, "S1", "ITCH_NRS4_W2")[0] == "Y"
    assert responder(out, "S1", "ITCH_NRS4_W4") == ("N", "", "")


def test_a_visit_after_the_cut_off_is_ignored(tmp_path):
    files = _week2_trial()
    files.visits = [f"S1,1,{date_of(12)}"]  # Week 1 visit recorded on Day 12, after a Day 9 cut-off
    out = run(files, tmp_path, as_of=date_of(9))
    assert adqs_row(out, "S1", "ITCHNRSW", 1)["ADY"] == 8  # the nominal visit day


def test_discontinued_participant_is_evaluable_by_the_same_dates(tmp_path):
    files = TrialFiles([participant("S1", discontinued_on=str(date_of(3))), participant("S2")],
                       itch("S1", {**{d: 8 for d in RUNIN}, 1: 2, 2: 2, 3: 2}) + itch("S2", {20: 5}))
    out = run(files, tmp_path, as_of=date_of(20))
    assert responder(out, "S1", "ITCH_NRS4_W2") == ("Y", "N", "Y")  # reached, missing: NRI

