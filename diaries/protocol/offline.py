"""Diaries the mobile app captured offline: judged at their capture time, never backfilled.

ENDPOINTS.md section 1: a diary the app captured without a connection is judged at its
capture time, corrected by the device's clock offset measured at upload, when it arrives
within the study's grace period after its window closed; `SUBMITTED_AT` is that capture
time. The device's clock is never trusted as it is: the app sends both its capture time
and its own clock reading at upload; the difference between that reading and the server's
receipt time is the offset (device minus server, positive when the device is fast, plus
the upload's transit time, a few seconds at most). Then:

- an offset larger than the study's limit (one hour by default) is refused and flagged to
  the site, never silently corrected: a clock that far off may be set by hand;
- the corrected capture time must lie inside a window, and not after the upload itself;
- the upload must arrive before that window's close plus the grace period (24 h);
- otherwise it is the usual refusal: outside the window, with the next opening counted
  from the upload, which is when the patient learns of it (the upload time itself when a
  window is open then: tonight's diary can be filled in now).

Pure rules over aware datetimes, like `windows`: the caller (the app's submit use case)
measures the receipt time, keeps both times and audits the offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from . import windows

DEFAULT_GRACE = timedelta(hours=24)
DEFAULT_MAX_CLOCK_OFFSET = timedelta(hours=1)


class ClockOff(Exception):
    """The device's clock is further off than the study allows: refused, and the site is told."""

    def __init__(self, offset: timedelta, limit: timedelta):
        super().__init__(f"The device clock is off by {_minutes(offset)} (more than {_minutes(limit)}): "
                         "set the phone's time automatically, then send the diary again.")
        self.offset = offset
        self.limit = limit


class CapturedLater(ValueError):
    """A capture time after the upload, even once corrected: not a capture the server can date."""


@dataclass(frozen=True)
class Capture:
    """When the diary was really filled in (UTC), the device's clock offset, and what it belongs to."""

    captured_at: datetime
    received_at: datetime
    clock_offset: timedelta
    diary_date: date | None = None  # the daily diary's date; None for the 12-hour assessment


def correct(*, device_captured_at: datetime, device_time_at_upload: datetime, received_at: datetime,
            max_clock_offset: timedelta = DEFAULT_MAX_CLOCK_OFFSET) -> tuple[datetime, timedelta]:
    """(corrected capture time, offset); ClockOff past the limit, CapturedLater for a capture after the upload."""
    for value in (device_captured_at, device_time_at_upload, received_at):
        if value.tzinfo is None:
            raise ValueError("naive datetime: the app sends every time with its offset")
    offset = device_time_at_upload - received_at
    if abs(offset) > max_clock_offset:
        raise ClockOff(offset, max_clock_offset)
    captured = device_captured_at - offset
    if captured > received_at:
        raise CapturedLater("The capture time is after the upload.")
    return captured, offset


def daily_capture(*, device_captured_at: datetime, device_time_at_upload: datetime, received_at: datetime,
                  zone: str, window: windows.Window = windows.Window(), grace: timedelta = DEFAULT_GRACE,
                  max_clock_offset: timedelta = DEFAULT_MAX_CLOCK_OFFSET) -> Capture:
    """The evening diary captured at this (corrected) time: its diary date, or OutsideWindow/ClockOff."""
    captured, offset = correct(device_captured_at=device_captured_at, device_time_at_upload=device_time_at_upload,
                               received_at=received_at, max_clock_offset=max_clock_offset)
    open_now = windows.open_diary_date(received_at, zone, window) is not None
    refusal = windows.OutsideWindow(
        f"The diary is open from {window.opens:%H:%M} to {window.closes:%H:%M}; a diary filled in without a "
        f"connection must be sent within {_hours(grace)} after its window closes.",
        next_opens_at=received_at if open_now else windows.next_window_opens(received_at, zone, window),
    )
    diary_date = windows.open_diary_date(captured, zone, window)
    if diary_date is None:
        raise refusal
    closes = windows.window_bounds(diary_date, zone, window)[1]
    if received_at >= closes + grace:
        raise refusal
    return Capture(captured, received_at, offset, diary_date)


def h12_capture(*, device_captured_at: datetime, device_time_at_upload: datetime, received_at: datetime,
                h12: windows.H12Window, grace: timedelta = DEFAULT_GRACE,
                max_clock_offset: timedelta = DEFAULT_MAX_CLOCK_OFFSET) -> Capture:
    """The 12-hour assessment captured at this (corrected) time, or OutsideWindow/ClockOff."""
    captured, offset = correct(device_captured_at=device_captured_at, device_time_at_upload=device_time_at_upload,
                               received_at=received_at, max_clock_offset=max_clock_offset)
    if not h12.is_open(captured) or received_at > h12.closes + grace:
        raise windows.OutsideWindow("The 12-hour assessment was not filled in during its window.")
    return Capture(captured, received_at, offset)


def _minutes(delta: timedelta) -> str:
    return f"{round(abs(delta.total_seconds()) / 60)} minutes"


def _hours(delta: timedelta) -> str:
    return f"{round(delta.total_seconds() / 3600)} hours"
