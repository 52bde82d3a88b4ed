"""ENDPOINTS.md section 1: diary dates, window edges, study days, across DST in two zones."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diaries.protocol import windows
from diaries.protocol.windows import OutsideWindow, Window

NY, WARSAW = "America/New_York", "Europe/Warsaw"


def at(zone, y, m, d, hh, mm, fold=0):
    return datetime(y, m, d, hh, mm, tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


@pytest.mark.parametrize("zone", [NY, WARSAW])
@pytest.mark.parametrize(
    ("local_time", "expected"),
    [
        ((16, 59), None),
        ((17, 0), date(2026, 6, 10)),
        ((23, 59), date(2026, 6, 10)),
    ],
)
def test_window_opens_at_17_local(zone, local_time, expected):
    instant = at(zone, 2026, 6, 10, *local_time)
    if expected is None:
        with pytest.raises(OutsideWindow):
            windows.diary_date(instant, zone)
    else:
        assert windows.diary_date(instant, zone) == expected


@pytest.mark.parametrize("zone", [NY, WARSAW])
def test_0259_belongs_to_the_evening_before_and_0300_is_closed(zone):
    assert windows.diary_date(at(zone, 2026, 6, 11, 2, 59), zone) == date(2026, 6, 10)
    with pytest.raises(OutsideWindow) as refused:
        windows.diary_date(at(zone, 2026, 6, 11, 3, 0), zone)
    assert refused.value.next_opens_at == at(zone, 2026, 6, 11, 17, 0)


@pytest.mark.parametrize(
    ("zone", "gap_day"),
    [(NY, date(2026, 3, 8)), (WARSAW, date(2026, 3, 29))],
)
def test_spring_forward_night_is_a_23_hour_diary_day(zone, gap_day):
    evening = gap_day - timedelta(days=1)
    opens, closes = windows.window_bounds(evening, zone)
    assert closes - opens == timedelta(hours=9)  # 17:00 to 03:00 with one hour skipped
    # 02:30 does not exist that night; a submission one minute before the close still counts.
    last_minute = at(zone, gap_day.year, gap_day.month, gap_day.day, 3, 0) - timedelta(minutes=1)
    assert windows.local(last_minute, zone).time() < time(3, 0)
    assert windows.diary_date(last_minute, zone) == evening
    with pytest.raises(OutsideWindow):
        windows.diary_date(last_minute + timedelta(minutes=1), zone)
    day_len = windows.wall_clock(gap_day, time(0), zone) - windows.wall_clock(evening, time(0), zone)
    assert day_len == timedelta(hours=24)
    assert windows.window_bounds(gap_day, zone)[0] - opens == timedelta(hours=23)


@pytest.mark.parametrize(
    ("zone", "back_day"),
    [(NY, date(2026, 11, 1)), (WARSAW, date(2026, 10, 25))],
)
def test_fall_back_night_is_a_25_hour_diary_day(zone, back_day):
    evening = back_day - timedelta(days=1)
    opens, closes = windows.window_bounds(evening, zone)
    assert closes - opens == timedelta(hours=11)
    # The repeated hour: both 01:30 (NY) / 02:30 (Warsaw) occurrences belong to the evening before.
    hour = 1 if zone == NY else 2
    first, second = at(zone, *back_day.timetuple()[:3], hour, 30, fold=0), at(zone, *back_day.timetuple()[:3], hour, 30,
                                                                               fold=1)
    assert second - first == timedelta(hours=1)
    assert windows.diary_date(first, zone) == windows.diary_date(second, zone) == evening
    assert windows.window_bounds(back_day, zone)[0] - opens == timedelta(hours=25)


def test_window_close_on_a_gap_day_when_the_close_falls_in_the_gap():
    # A study closing at 02:30: on the US spring-forward night 02:30 does not exist, and the
    # window ends when the clock jumps to 03:00 (same instant as 02:30 read forward).
    w = Window(opens=time(17, 0), closes=time(2, 30))
    opens, closes = windows.window_bounds(date(2026, 3, 7), NY, w)
    assert windows.local(closes, NY).time() == time(3, 0)
    assert windows.diary_date(closes - timedelta(seconds=1), NY, w) == date(2026, 3, 7)


def test_next_window_opens_follows_local_17_across_dst():
    before = at(NY, 2026, 3, 8, 4, 0)  # just after the spring-forward night
    nxt = windows.next_window_opens(before, NY)
    assert windows.local(nxt, NY).replace(tzinfo=None) == datetime(2026, 3, 8, 17, 0)
    assert windows.next_window_opens(at(NY, 2026, 3, 8, 17, 0), NY) == at(NY, 2026, 3, 9, 17, 0)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        (date(2026, 3, 1), -7),
        (date(2026, 3, 7), -1),
        (date(2026, 3, 8), 1),
        (date(2026, 3, 9), 2),
        (date(2026, 5, 2), 56),
    ],
)
def test_study_day_has_no_day_zero(d, expected):
    assert windows.study_day(d, date(2026, 3, 8)) == expected
    assert windows.date_of_study_day(expected, date(2026, 3, 8)) == d


def test_day_zero_does_not_exist():
    with pytest.raises(ValueError):
        windows.date_of_study_day(0, date(2026, 3, 8))


def test_day1_is_the_local_date_whatever_offset_it_was_written_with():
    # 23:30 in Chicago on 7 March is 05:30 UTC on the 8th: Day 1 is the 7th for a Chicago patient.
    first = datetime(2026, 3, 8, 5, 30, tzinfo=UTC)
    assert windows.day1(first, "America/Chicago") == date(2026, 3, 7)
    assert windows.day1(first, "Europe/Warsaw") == date(2026, 3, 8)


def test_h12_window_is_elapsed_time_across_spring_forward(rules):
    first = at(NY, 2026, 3, 7, 20, 0)  # 12 elapsed hours later the clock reads 09:00, not 08:00
    w = windows.h12_window(first, rules)
    assert windows.local(w.prompt_at, NY).time() == time(9, 0)
    assert w.is_open(first + timedelta(hours=10)) and w.is_open(first + timedelta(hours=14))
    assert not w.is_open(first + timedelta(hours=9, minutes=59)) and not w.is_open(first + timedelta(hours=14, seconds=1))


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        windows.diary_date(datetime(2026, 3, 8, 18, 0), NY)


zones = st.sampled_from([NY, WARSAW, "America/St_Johns", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"])


@given(zone=zones, instant=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC)))
def test_every_instant_is_either_refused_or_inside_its_dates_window(zone, instant):
    try:
        d = windows.diary_date(instant, zone)
    except OutsideWindow as refused:
        t = windows.local(instant, zone).time()
        assert time(3, 0) <= t < time(17, 0)
        assert refused.next_opens_at > instant
        return
    opens, closes = windows.window_bounds(d, zone)
    assert opens <= instant < closes
