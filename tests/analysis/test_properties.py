"""Properties over generated diaries: responders agree with adqs, whatever the data."""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.analysis.trial_files import TrialFiles, date_of, itch, participant, run

DAYS = [*range(-7, 0), *range(1, 16)]
diaries = st.dictionaries(st.sampled_from(DAYS), st.integers(0, 10), max_size=len(DAYS))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=diaries, cutoff=st.sampled_from(DAYS))
def test_itch_responders_agree_with_adqs_changes(tmp_path_factory, scores, cutoff):
    """At any data cut-off: a time point not yet reached has nobody in its population."""
    out = run(TrialFiles([participant("S1")], itch("S1", scores)), tmp_path_factory.mktemp("p"),
              as_of=date_of(cutoff))
    adqs, responders = out["adqs"], out["responders"].set_index("ENDPOINT")
    base = adqs[(adqs["PARAMCD"] == "ITCHNRS") & (adqs["AVISITN"] == 0)]["AVAL"]
    in_population = not base.empty and base.iloc[0] >= 4 - 1e-9
    for endpoint, paramcd, visit, last_day in [("ITCH_NRS4_W2", "ITCHNRSW", 2, 14), ("ITCH_NRS4_D2", "ITCHNRS", 2, 2),
                                               ("ITCH_NRS4_D7", "ITCHNRS", 7, 7)]:  # fmt: skip
        row = responders.loc[endpoint]
        evaluable = cutoff >= last_day
        assert row["INPOP"] == ("Y" if in_population and evaluable else "N")
        if row["INPOP"] == "N":
            assert (row["RESPONDER"], row["IMPUTED"]) == ("", "")
            continue
        value = adqs[(adqs["PARAMCD"] == paramcd) & (adqs["AVISITN"] == visit)]
        assert row["IMPUTED"] == ("Y" if value.empty else "N")
        expected = not value.empty and value["CHG"].iloc[0] <= -4 + 1e-9
        assert row["RESPONDER"] == ("Y" if expected else "N")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=diaries)
def test_weekly_rows_average_at_least_four_daily_rows_of_their_window(tmp_path_factory, scores):
    out = run(TrialFiles([participant("S1")], itch("S1", scores)), tmp_path_factory.mktemp("p"))
    adqs = out["adqs"]
    daily = {d: s for d, s in scores.items()}
    for row in adqs[(adqs["PARAMCD"] == "ITCHNRSW") & (adqs["AVISITN"] > 0)].to_dict("records"):
        window = [daily[d] for d in range(row["ADY"] - 7, row["ADY"]) if d in daily and d != 0]
        assert row["NVALS"] == len(window) >= 4
        assert row["AVAL"] == sum(window) / len(window)
    assert not pd.isna(adqs["AVISITN"]).any()
