"""Offline capture (diaries/offline.py): judged at the corrected capture time, within the grace period only."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diaries.protocol import offline, windows
from diaries.protocol.offline import ClockOff

CHICAGO, WARSAW = ZoneInfo("America/Chicago"), ZoneInfo("Europe/Warsaw")


def at(zone, *parts) -> datetime:
    return datetime(*parts, tzinfo=zone).astimezone(UTC)


def upload(captured, received, *, device_fast=timedelta(0), zone="America/Chicago", **kw):
    """The app's upload of a diary really filled in at `captured`, on a device whose clock is `device_fast` ahead."""
    return offline.daily_capture(device_captured_at=captured + device_fast, device_time_at_upload=received + device_fast,
                                 received_at=received, zone=zone, **kw)


def test_a_diary_captured_at_2100_and_uploaded_at_0310_is_dated_that_evening():
    captured, received = at(CHICAGO, 2026, 3, 10, 21, 0), at(CHICAGO, 2026, 3, 11, 3, 10)
    capture = upload(captured, received)
    assert capture.diary_date.isoformat() == "2026-03-10"
    assert (capture.captured_at, capture.received_at, capture.clock_offset) == (captured, received, timedelta(0))


@pytest.mark.parametrize(("received", "next_opens"), [
    # Two days later in the morning: refused, the next window opens at 17:00 that day.
    ((2026, 3, 12, 10, 0), (2026, 3, 12, 17, 0)),
    # Two days later in the evening: refused, and tonight's diary is open now.
    ((2026, 3, 12, 21, 30), (2026, 3, 12, 21, 30)),
])
def test_a_diary_uploaded_two_days_later_is_refused_with_the_next_opening(received, next_opens):
    with pytest.raises(windows.OutsideWindow) as refused:
        upload(at(CHICAGO, 2026, 3, 10, 21, 0), at(CHICAGO, *received))
    assert refused.value.next_opens_at == at(CHICAGO, *next_opens)
    assert "within 24 hours" in str(refused.value)


def test_the_grace_period_ends_24_hours_after_the_window_closes():
    captured = at(CHICAGO, 2026, 3, 10, 21, 0)
    assert upload(captured, at(CHICAGO, 2026, 3, 12, 2, 59)).diary_date.isoformat() == "2026-03-10"
    with pytest.raises(windows.OutsideWindow):
        upload(captured, at(CHICAGO, 2026, 3, 12, 3, 0))
    with pytest.raises(windows.OutsideWindow):  # a study's shorter grace period
        upload(captured, at(CHICAGO, 2026, 3, 11, 9, 0), grace=timedelta(hours=6))


def test_a_device_clock_3_minutes_fast_is_corrected():
    # Filled in at 02:58, when the phone read 03:01: on the device's word it would be refused.
    captured, received = at(CHICAGO, 2026, 3, 11, 2, 58), at(CHICAGO, 2026, 3, 11, 3, 10)
    capture = upload(captured, received, device_fast=timedelta(minutes=3))
    assert capture.captured_at == captured and capture.clock_offset == timedelta(minutes=3)
    assert capture.diary_date.isoformat() == "2026-03-10"
    # And a slow one the other way: filled in at 17:01 while the phone read 16:58.
    early = upload(at(CHICAGO, 2026, 3, 11, 17, 1), at(CHICAGO, 2026, 3, 11, 18, 0), device_fast=-timedelta(minutes=3))
    assert early.diary_date.isoformat() == "2026-03-11" and early.clock_offset == -timedelta(minutes=3)


@pytest.mark.parametrize("off", [timedelta(hours=2), -timedelta(hours=2), timedelta(hours=1, seconds=1)])
def test_a_device_clock_off_by_more_than_an_hour_is_refused_not_corrected(off):
    with pytest.raises(ClockOff) as refused:
        upload(at(CHICAGO, 2026, 3, 10, 21, 0), at(CHICAGO, 2026, 3, 11, 3, 10), device_fast=off)
    assert refused.value.offset == off and refused.value.limit == timedelta(hours=1)
    assert "set the phone's time automatically" in str(refused.value)
    # The limit is the study's.
    assert upload(at(CHICAGO, 2026, 3, 10, 21, 0), at(CHICAGO, 2026, 3, 11, 3, 10), device_fast=off,
                  max_clock_offset=timedelta(hours=3)).diary_date.isoformat() == "2026-03-10"


def test_a_capture_after_the_upload_is_refused():
    received = at(CHICAGO, 2026, 3, 10, 21, 0)
    with pytest.raises(offline.CapturedLater):
        offline.daily_capture(device_captured_at=received + timedelta(minutes=5), device_time_at_upload=received,
                              received_at=received, zone="America/Chicago")


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="naive"):
        offline.correct(device_captured_at=datetime(2026, 3, 10, 21), device_time_at_upload=datetime(2026, 3, 11, 3),
                        received_at=at(CHICAGO, 2026, 3, 11, 3, 10))


@pytest.mark.parametrize(("zone", "name", "evening", "night_after"), [
    # Fall back: the diary day that night has 25 hours.
    (CHICAGO, "America/Chicago", (2026, 10, 31), (2026, 11, 1)),
    (WARSAW, "Europe/Warsaw", (2026, 10, 24), (2026, 10, 25)),
    # Spring forward: 23 hours.
    (CHICAGO, "America/Chicago", (2026, 3, 7), (2026, 3, 8)),
    (WARSAW, "Europe/Warsaw", (2026, 3, 28), (2026, 3, 29)),
])
def test_offline_capture_across_a_dst_change(zone, name, evening, night_after):
    captured = at(zone, *evening, 21, 0)
    # Uploaded at 03:10 on the new offset, with the phone 3 minutes fast: that evening's diary.
    capture = upload(captured, at(zone, *night_after, 3, 10), device_fast=timedelta(minutes=3), zone=name)
    assert capture.diary_date == datetime(*evening).date() and capture.captured_at == captured
    # The window closed at 03:00 local on the new offset; the grace runs 24 real hours from then.
    closes = windows.window_bounds(capture.diary_date, name)[1]
    assert closes == at(zone, *night_after, 3, 0)
    assert upload(captured, closes + timedelta(hours=24) - timedelta(seconds=1), zone=name).diary_date == capture.diary_date
    with pytest.raises(windows.OutsideWindow):
        upload(captured, closes + timedelta(hours=24), zone=name)
    # A capture one second after the close, on the corrected clock, belongs to no window.
    with pytest.raises(windows.OutsideWindow):
        upload(closes, closes + timedelta(hours=1), device_fast=-timedelta(seconds=30), zone=name)


def test_the_12_hour_assessment_captured_offline():
    h12 = windows.H12Window(prompt_at=at(CHICAGO, 2026, 3, 8, 22, 0), opens=at(CHICAGO, 2026, 3, 8, 20, 0),
                            closes=at(CHICAGO, 2026, 3, 9, 0, 0))
    capture = offline.h12_capture(device_captured_at=at(CHICAGO, 2026, 3, 8, 22, 5),
                                  device_time_at_upload=at(CHICAGO, 2026, 3, 9, 8, 5),
                                  received_at=at(CHICAGO, 2026, 3, 9, 8, 0), h12=h12)
    assert capture.captured_at == at(CHICAGO, 2026, 3, 8, 22, 0) and capture.diary_date is None
    with pytest.raises(windows.OutsideWindow):  # captured after the window
        offline.h12_capture(device_captured_at=at(CHICAGO, 2026, 3, 9, 0, 30), device_time_at_upload=at(CHICAGO, 2026, 3, 9, 8),
                            received_at=at(CHICAGO, 2026, 3, 9, 8), h12=h12)
    with pytest.raises(windows.OutsideWindow):  # uploaded after the grace period
        offline.h12_capture(device_captured_at=at(CHICAGO, 2026, 3, 8, 22), device_time_at_upload=at(CHICAGO, 2026, 3, 10, 1),
                            received_at=at(CHICAGO, 2026, 3, 10, 1), h12=h12)


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))


@given(true_capture=instants, zone=st.sampled_from(["America/Chicago", "Europe/Warsaw", "Asia/Kolkata"]),
       offset=st.integers(-3600, 3600), delay=st.integers(0, 3 * 24 * 3600))
def test_correction_recovers_the_capture_time_and_the_window_decides(true_capture, zone, offset, delay):
    received = true_capture + timedelta(seconds=delay)
    expected = windows.open_diary_date(true_capture, zone)
    in_time = expected is not None and received < windows.window_bounds(expected, zone)[1] + timedelta(hours=24)
    try:
        capture = upload(true_capture, received, device_fast=timedelta(seconds=offset), zone=zone)
    except windows.OutsideWindow:
        assert not in_time
    else:
        assert in_time and capture.diary_date == expected and capture.captured_at == true_capture
