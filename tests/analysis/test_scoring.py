import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
import pytest

from analysis.scoring import day_number, local_dates, promis_raw, promis_tscore, study_day, study_day_offset


def test_promis_raw_is_the_sum_with_all_eight_items():
    assert promis_raw([20], [8]).tolist() == [20.0]


def test_promis_raw_is_prorated_with_five_items():
    # 13 * 8 / 5 = 20.8 -> 21
    assert promis_raw([13], [5]).tolist() == [21.0]


def test_promis_raw_is_missing_with_three_items():
    assert np.isnan(promis_raw([12], [3])[0])


def test_promis_proration_rounds_half_up_like_decimal_for_every_possible_record():
    sums, answered, expected = [], [], []
    for n in range(4, 8):
        for total in range(n, 5 * n + 1):
            sums.append(total)
            answered.append(n)
            expected.append(float((Decimal(total * 8) / Decimal(n)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))
    assert promis_raw(sums, answered).tolist() == expected


def test_tscore_table_ends_and_middle():
    assert promis_tscore([8, 24, 40, np.nan]).tolist()[:3] == [28.9, 54.3, 76.5]
    assert np.isnan(promis_tscore([np.nan])[0])


@pytest.mark.parametrize(
    ("date", "expected"),
    [(dt.date(2026, 1, 12), 1), (dt.date(2026, 1, 13), 2), (dt.date(2026, 1, 11), -1), (dt.date(2026, 1, 5), -7)],
)
def test_study_day_has_no_day_zero(date, expected):
    day1 = day_number(np.array(["2026-01-12"], dtype="datetime64[D]"))
    day = day_number(np.array([date], dtype="datetime64[D]"))
    assert study_day(day, day1).tolist() == [expected]
    assert study_day_offset([expected]).tolist() == (day - day1).tolist()


def test_local_date_follows_the_zone_not_the_written_offset_across_dst():
    # 2026-03-08 is the spring-forward day in New York. 23:30 at UTC-6 is 05:30 UTC,
    # which is 00:30 EST on March 8th; a naive reading of the text would say March 7th.
    instants = pd.to_datetime(pd.Series(["2026-03-07T23:30:00-06:00", "2026-03-08T22:30:00-04:00"]), utc=True)
    zones = pd.Series(["America/New_York", "Europe/Warsaw"])
    assert local_dates(instants, zones).dt.strftime("%Y-%m-%d").tolist() == ["2026-03-08", "2026-03-09"]
