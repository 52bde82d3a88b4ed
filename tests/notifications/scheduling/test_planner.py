"""The planner's rules as pure functions: local wall-clock times through DST, quiet hours, phases."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from diaries.protocol.cycles import Event, derive_cycles
from diaries.protocol.windows import Window, last_closed_diary_date
from notifications.scheduling.planner import Facts, expires_at, out_of_quiet_hours, planned_prompts


def facts(zone, phase="vc", runin_start=date(2026, 1, 1), first_application_at=None, **kw):
    return Facts("p1", zone, phase, runin_start, first_application_at, **kw)


def plan(f, rules, start, days):
    return planned_prompts(f, rules, start, start + timedelta(days=days))


def local_times(prompts, kind, zone):
    tz = ZoneInfo(zone)
    return {p.diary_date: p.due_at.astimezone(tz) for p in prompts if p.kind == kind}


@pytest.mark.parametrize("zone, change, offsets", [
    ("America/Chicago", date(2026, 3, 8), (-6, -5)),     # spring forward
    ("America/Chicago", date(2026, 11, 1), (-5, -6)),    # fall back
    ("Europe/Warsaw", date(2026, 3, 29), (1, 2)),
    ("Europe/Warsaw", date(2026, 10, 25), (2, 1)),
])
def test_the_diary_prompt_stays_at_19_local_through_dst_changes(rules, zone, change, offsets):
    # A participant in run-in all year (no Day 1 yet), planned over the week around the change.
    f = facts(zone, phase="runin")
    start = datetime.combine(change - timedelta(days=3), time(0), tzinfo=UTC)
    prompts = plan(f, rules, start, 6)
    diary = local_times(prompts, "diary", zone)
    reminder = local_times(prompts, "reminder", zone)
    assert len(diary) >= 5
    assert {t.time() for t in diary.values()} == {time(19, 0)}
    assert {t.time() for t in reminder.values()} == {time(21, 30)}
    assert all(t.date() == d for d, t in diary.items())
    before, after = diary[change - timedelta(days=1)], diary[change]
    assert before.utcoffset() == timedelta(hours=offsets[0]) and after.utcoffset() == timedelta(hours=offsets[1])
    # So the UTC instant moves by the hour the clocks moved: 23 or 25 hours between prompts.
    assert after.astimezone(UTC) - before.astimezone(UTC) == timedelta(hours=24 + offsets[0] - offsets[1])


def test_a_half_hour_offset_zone_keeps_19_local(rules):
    zone = "America/St_Johns"  # NST -3:30, NDT -2:30 from 8 March 2026
    prompts = plan(facts(zone, phase="runin"), rules, datetime(2026, 3, 6, tzinfo=UTC), 4)
    diary = {p.diary_date: p.due_at for p in prompts if p.kind == "diary"}
    assert diary[date(2026, 3, 7)] == datetime(2026, 3, 7, 22, 30, tzinfo=UTC)
    assert diary[date(2026, 3, 8)] == datetime(2026, 3, 8, 21, 30, tzinfo=UTC)
    assert {p.due_at.astimezone(ZoneInfo(zone)).time() for p in prompts if p.kind == "reminder"} == {time(21, 30)}


@pytest.mark.parametrize("zone, gap_day, close_utc", [
    ("America/Chicago", date(2026, 3, 8), datetime(2026, 3, 8, 8, 0, tzinfo=UTC)),   # 03:00 CDT
    ("Europe/Warsaw", date(2026, 3, 29), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),   # 03:00 CEST
])
def test_the_03_00_window_close_on_a_02_to_03_gap_day(rules, zone, gap_day, close_utc):
    f = facts(zone, phase="runin")
    evening = gap_day - timedelta(days=1)
    # The diary of the evening before the gap closes when the clock reads 03:00: one hour
    # of elapsed time earlier than 03:00 standard time would be.
    assert expires_at("reminder", evening, f, rules) == close_utc
    assert expires_at("reminder", evening - timedelta(days=1), f, rules) == close_utc - timedelta(hours=23)
    assert last_closed_diary_date(close_utc - timedelta(seconds=1), zone, Window.of(rules)) == evening - timedelta(days=1)
    assert last_closed_diary_date(close_utc, zone, Window.of(rules)) == evening


def test_a_prompt_time_inside_the_gap_fires_when_the_clock_jumps_past_it(rules):
    rules = replace(rules, stop_prompt_time=time(2, 30), quiet_hours_start=time(23, 0),
                    quiet_hours_end=time(2, 0))
    clear = Event("c1", "cleared", date(2026, 3, 5), datetime(2026, 3, 5, 18, tzinfo=UTC))
    f = facts("America/Chicago", phase="long_term", cycles=tuple(derive_cycles([clear], stop_after_days=3)))
    (stop,) = [p for p in plan(f, rules, datetime(2026, 3, 7, tzinfo=UTC), 3) if p.kind == "stop_treatment"]
    assert stop.due_at == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 03:00 CDT, the instant 02:00 CST ends
    assert stop.diary_date == date(2026, 3, 8)


def test_quiet_hours_move_visit_reminders_and_check_ins_but_not_protocol_timed_prompts(rules):
    rules = replace(rules, visit_reminder_time=time(7, 0), lesion_checkin_time=time(22, 0),
                    quiet_hours_start=time(21, 0))
    zone = "Europe/Warsaw"
    day1 = datetime(2026, 1, 5, 9, 0, tzinfo=ZoneInfo(zone))
    vc = facts(zone, runin_start=date(2025, 12, 29), first_application_at=day1)
    # Week 2 visit: Day 15 = 19 January; reminder the day before at 07:00 -> 08:00.
    prompts = plan(vc, rules, datetime(2026, 1, 17, tzinfo=UTC), 3)
    (visit,) = [p for p in prompts if p.kind == "visit_reminder"]
    assert visit.due_at.astimezone(ZoneInfo(zone)) == datetime(2026, 1, 18, 8, 0, tzinfo=ZoneInfo(zone))
    assert (visit.slot, visit.diary_date) == ("week-2", date(2026, 1, 19))
    # The 21:30 reminder is protocol-timed: it stays inside quiet hours that start at 21:00.
    assert {p.due_at.astimezone(ZoneInfo(zone)).time() for p in prompts if p.kind == "reminder"} == {time(21, 30)}
    lt = replace(vc, phase="long_term")
    checkins = [p for p in plan(lt, rules, datetime(2026, 3, 2, tzinfo=UTC), 14) if p.kind == "lesion_checkin"]
    # Saturday 22:00 is quiet: Sunday 08:00, still filed under Saturday's slot.
    assert [(p.slot, p.due_at.astimezone(ZoneInfo(zone)).strftime("%a %H:%M")) for p in checkins] == [
        ("2026-03-07", "Sun 08:00"), ("2026-03-14", "Sun 08:00")]


def test_out_of_quiet_hours_before_and_after_midnight(rules):
    zone = "America/Chicago"
    tz = ZoneInfo(zone)
    assert out_of_quiet_hours(datetime(2026, 5, 1, 23, 0, tzinfo=tz), zone, rules) == datetime(2026, 5, 2, 8, 0, tzinfo=tz)
    assert out_of_quiet_hours(datetime(2026, 5, 2, 7, 59, tzinfo=tz), zone, rules) == datetime(2026, 5, 2, 8, 0, tzinfo=tz)
    noon = datetime(2026, 5, 2, 12, 0, tzinfo=tz)
    assert out_of_quiet_hours(noon, zone, rules) == noon


def test_the_daily_diary_runs_from_runin_start_to_day_56_and_not_after_discontinuation(rules):
    zone = "America/Chicago"
    day1 = datetime(2026, 3, 8, 10, 0, tzinfo=ZoneInfo(zone))
    f = facts(zone, runin_start=date(2026, 3, 1), first_application_at=day1)
    prompts = plan(f, rules, datetime(2026, 2, 20, tzinfo=UTC), 80)
    dates = sorted(p.diary_date for p in prompts if p.kind == "diary")
    assert dates[0] == date(2026, 3, 1) and dates[-1] == date(2026, 5, 2)  # Day -7 .. Day 56
    assert len(dates) == 7 + 56
    stopped = replace(f, discontinued_on=date(2026, 3, 20))
    assert max(p.diary_date for p in plan(stopped, rules, datetime(2026, 2, 20, tzinfo=UTC), 80)
               if p.kind == "diary") == date(2026, 3, 20)


def test_h12_is_twelve_elapsed_hours_after_first_application_even_across_spring_forward(rules):
    zone = "America/Chicago"
    day1 = datetime(2026, 3, 8, 10, 0, tzinfo=ZoneInfo(zone))  # the US spring-forward day
    (h12,) = [p for p in plan(facts(zone, first_application_at=day1), rules, datetime(2026, 3, 8, tzinfo=UTC), 2)
              if p.kind == "h12"]
    assert h12.due_at == day1 + timedelta(hours=12)
    assert h12.due_at.astimezone(ZoneInfo(zone)).time() == time(22, 0)


def test_visit_reminders_use_the_recorded_date_when_there_is_one(rules):
    zone = "America/Chicago"
    day1 = datetime(2026, 3, 8, 10, 0, tzinfo=ZoneInfo(zone))
    f = facts(zone, first_application_at=day1, visits={4: date(2026, 4, 9)})  # nominal Day 29 = 5 April
    prompts = plan(f, rules, datetime(2026, 4, 1, tzinfo=UTC), 10)
    (visit,) = [p for p in prompts if p.kind == "visit_reminder"]
    assert visit.slot == "week-4" and visit.due_at.astimezone(ZoneInfo(zone)) == datetime(
        2026, 4, 8, 10, 0, tzinfo=ZoneInfo(zone))


def test_phases_decide_what_is_planned(rules):
    zone = "Europe/Warsaw"
    day1 = datetime(2026, 1, 5, 9, 0, tzinfo=ZoneInfo(zone))
    start = datetime(2026, 3, 2, tzinfo=UTC)  # after Day 56
    for phase in ("withdrawn", "completed"):
        assert plan(facts(zone, phase=phase, first_application_at=day1), rules, start, 14) == []
    lt = plan(facts(zone, phase="long_term", first_application_at=day1), rules, start, 30)
    assert {p.kind for p in lt} == {"lesion_checkin", "visit_reminder"}
    assert [p.slot for p in lt if p.kind == "visit_reminder"] == ["week-12"]  # Day 85, 30 March
    assert {p.due_at.astimezone(ZoneInfo(zone)).strftime("%a %H:%M") for p in lt if p.kind == "lesion_checkin"} == {
        "Sat 18:00"}
    # The check-ins end with the Week 52 visit.
    late = plan(facts(zone, phase="long_term", first_application_at=day1), rules, datetime(2027, 1, 1, tzinfo=UTC), 20)
    assert max(p.diary_date for p in late if p.kind == "lesion_checkin") <= date(2027, 1, 4)


def test_the_stop_prompt_is_three_days_after_clearance_at_09_and_withheld_after_a_recurrence(rules):
    zone = "Europe/Warsaw"
    D = date(2026, 6, 3)
    clear = Event("c1", "cleared", D, datetime(2026, 6, 3, 18, tzinfo=UTC))
    f = facts(zone, phase="long_term", cycles=tuple(derive_cycles([clear], stop_after_days=3)))
    (stop,) = [p for p in plan(f, rules, datetime(2026, 6, 5, tzinfo=UTC), 2) if p.kind == "stop_treatment"]
    assert (stop.slot, stop.diary_date) == ("clear:c1", D + timedelta(days=3))
    assert stop.due_at.astimezone(ZoneInfo(zone)) == datetime(2026, 6, 6, 9, 0, tzinfo=ZoneInfo(zone))
    flare = Event("r1", "recurred", D + timedelta(days=2), datetime(2026, 6, 5, 7, tzinfo=UTC))
    f = replace(f, cycles=tuple(derive_cycles([clear, flare], stop_after_days=3)))
    assert [p for p in plan(f, rules, datetime(2026, 6, 5, tzinfo=UTC), 2) if p.kind == "stop_treatment"] == []
