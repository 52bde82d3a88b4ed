"""A diary the app captured offline: dated by its corrected capture time, receipt time kept, never backfilled."""

from datetime import UTC, date, datetime, timedelta

import pytest

from diaries.diary import OfflineCapture, Reason, Recorded, Refused, submit_diary
from diaries.models import Alert, AuditEvent, DiaryRecord
from tests.conftest import CHICAGO, WARSAW, answer

pytestmark = pytest.mark.django_db


def upload(p, *, captured, received, device_clock_off=timedelta(0), itch=6, timepoint="DAILY"):
    """The app sends at `received` (server time) a diary captured at `captured` (true time), both by its own clock."""
    return submit_diary(
        participant=p, channel="app", timepoint=timepoint, answers={"ITCH_NRS": {"1": itch}}, at=received,
        offline=OfflineCapture(device_captured_at=captured + device_clock_off,
                               device_time_at_upload=received + device_clock_off))


def test_captured_at_21_00_and_uploaded_at_03_10_counts_for_that_evening(alice):
    captured = datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO)
    received = datetime(2026, 3, 10, 3, 10, tzinfo=CHICAGO)  # after the 03:00 close
    result = upload(alice, captured=captured, received=received)
    assert isinstance(result, Recorded), result
    [record] = result.records
    assert record.diary_date == date(2026, 3, 9)
    assert record.submitted_at == captured and record.received_at == received and record.clock_offset_s == 0
    event = AuditEvent.objects.get(action="diary.answer", object_id=str(record.pk))
    assert event.after["offline"] is True and event.after["clock_offset_s"] == 0
    assert event.after["received_at"] == "2026-03-10T03:10:00-05:00"


def test_captured_at_21_00_and_uploaded_two_days_later_is_refused(alice):
    result = upload(alice, captured=datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO),
                    received=datetime(2026, 3, 11, 21, 0, tzinfo=CHICAGO))
    assert isinstance(result, Refused) and result.reason == Reason.OUTSIDE_WINDOW
    assert not DiaryRecord.objects.exists()
    assert AuditEvent.objects.filter(action="diary.refused", after__reason="outside_window").count() == 1


def test_a_device_clock_three_minutes_fast_is_corrected(alice):
    captured = datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO)
    received = datetime(2026, 3, 10, 3, 10, tzinfo=CHICAGO)
    result = upload(alice, captured=captured, received=received, device_clock_off=timedelta(minutes=3))
    [record] = result.records
    assert record.submitted_at == captured and record.clock_offset_s == 180


def test_a_device_clock_fast_near_the_close_is_judged_at_the_true_time(alice):
    # 02:58 by a clock 3 minutes slow is really 03:01: after the window closed.
    true_capture = datetime(2026, 3, 10, 3, 1, tzinfo=CHICAGO)
    result = upload(alice, captured=true_capture, received=datetime(2026, 3, 10, 8, 0, tzinfo=CHICAGO),
                    device_clock_off=-timedelta(minutes=3))
    assert isinstance(result, Refused) and result.reason == Reason.OUTSIDE_WINDOW


def test_a_device_clock_two_hours_off_is_refused_and_flagged_to_the_site(alice):
    result = upload(alice, captured=datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO),
                    received=datetime(2026, 3, 10, 3, 10, tzinfo=CHICAGO), device_clock_off=timedelta(hours=2))
    assert isinstance(result, Refused) and result.reason == Reason.CLOCK_OFF
    assert "120 minutes" in result.message
    assert not DiaryRecord.objects.exists()
    [alert] = Alert.objects.filter(kind="clock_off")
    assert alert.participant == alice and alert.site == alice.site and "+120 minutes" in alert.detail


def test_across_the_us_spring_forward(alice):
    # 21:00 CST on Saturday 7 March; uploaded at 03:10 CDT on Sunday, when the clocks had jumped an hour.
    captured = datetime(2026, 3, 7, 21, 0, tzinfo=CHICAGO)
    received = datetime(2026, 3, 8, 3, 10, tzinfo=CHICAGO)
    assert received.astimezone(UTC) - captured.astimezone(UTC) == timedelta(hours=5, minutes=10)  # an hour skipped
    [record] = upload(alice, captured=captured, received=received).records
    assert record.diary_date == date(2026, 3, 7) and record.submitted_at == captured


def test_across_the_european_spring_forward(bob):
    captured = datetime(2026, 3, 28, 21, 0, tzinfo=WARSAW)  # CET
    received = datetime(2026, 3, 29, 3, 10, tzinfo=WARSAW)  # CEST
    [record] = upload(bob, captured=captured, received=received, device_clock_off=timedelta(seconds=-40)).records
    assert record.diary_date == date(2026, 3, 28) and record.submitted_at == captured
    assert record.submitted_at.astimezone(UTC) == datetime(2026, 3, 28, 20, 0, tzinfo=UTC)


def test_the_same_capture_uploaded_twice_writes_once(alice):
    captured = datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO)
    first = upload(alice, captured=captured, received=datetime(2026, 3, 10, 3, 10, tzinfo=CHICAGO))
    again = upload(alice, captured=captured, received=datetime(2026, 3, 10, 3, 12, tzinfo=CHICAGO))
    assert isinstance(again, Recorded) and again.repeat
    assert again.records[0].pk == first.records[0].pk
    assert DiaryRecord.objects.count() == 1


def test_an_older_capture_never_replaces_a_later_answer(alice):
    answer(participant=alice, instrument="ITCH_NRS", answers={"1": 2}, at=datetime(2026, 3, 9, 22, 0, tzinfo=CHICAGO))
    result = upload(alice, captured=datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO),
                    received=datetime(2026, 3, 9, 23, 0, tzinfo=CHICAGO), itch=8)
    assert isinstance(result, Refused) and result.reason == Reason.NEWER_ANSWER
    assert [r.derived["itch"] for r in DiaryRecord.objects.current()] == [2]


def test_a_capture_after_the_upload_is_refused(alice):
    received = datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO)
    result = upload(alice, captured=received + timedelta(minutes=5), received=received)
    assert isinstance(result, Refused) and not DiaryRecord.objects.exists()
