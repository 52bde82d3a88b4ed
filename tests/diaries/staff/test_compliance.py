"""Compliance by ENDPOINTS.md's compliance.csv, exact on a fixture with known gaps.

alice (Chicago): run-in 2026-03-01..03-07 (days -7..-1), Day 1 = 03-08 (the US DST change).
Entries on run-in days 01, 02, 04, 05, 07 (gaps 03, 06); VC days 08..12 and 15 (gaps 13, 14,
16, 17, 18). "Today" is 2026-03-19 noon in Chicago: the window of 03-18 closed at 03:00.
"""

from datetime import date, datetime, timedelta

import pytest
import time_machine

from diaries import participants, selectors
from tests.conftest import CHICAGO, answer, enroll

pytestmark = pytest.mark.django_db

RUNIN_DONE = [1, 2, 4, 5, 7]
VC_DONE = [8, 9, 10, 11, 12, 15]
NOON_19 = datetime(2026, 3, 19, 12, 0, tzinfo=CHICAGO)


def evening(day: int, hour: int = 20):
    return datetime(2026, 3, day, hour, 0, tzinfo=CHICAGO)


@pytest.fixture
def alice_diary(alice):
    for day in RUNIN_DONE + VC_DONE:
        answer(participant=alice, instrument="ITCH_NRS", answers={1: 5}, channel="sms",
                                at=evening(day))
    # A second answer the same evening supersedes the first: still one completed day.
    answer(participant=alice, instrument="ITCH_NRS", answers={1: 4}, channel="web",
                            at=evening(15, 22))
    # Neither the sleep questionnaire nor the 12-hour itch assessment counts as a daily itch diary.
    answer(participant=alice, instrument="PROMIS_SD8B", answers={1: 2}, channel="sms",
                            at=evening(13))
    answer(participant=alice, instrument="ITCH_NRS", answers={1: 7}, channel="sms",
                            timepoint="H12", at=datetime(2026, 3, 8, 22, 0, tzinfo=CHICAGO))
    return alice


def test_compliance_per_period_is_exact(alice_diary):
    with time_machine.travel(NOON_19, tick=False):
        c = selectors.participant_compliance(alice_diary)
    assert c.as_of == date(2026, 3, 19)
    assert c.periods["RUNIN"] == selectors.Tally(expected=7, completed=5)
    assert c.periods["RUNIN"].pct == 71.4
    assert c.periods["VC"] == selectors.Tally(expected=12, completed=6)  # 03-08..03-19
    assert c.periods["VC"].pct == 50.0
    assert c.current_period == "VC"


def test_recent_days_count_only_closed_windows(alice_diary):
    with time_machine.travel(NOON_19, tick=False):
        c = selectors.participant_compliance(alice_diary)
    assert c.last7 == selectors.Tally(expected=7, completed=2)  # 03-12..03-18: 12 and 15
    assert c.last7.pct == 28.6
    assert c.missed_in_a_row == 3  # 16, 17, 18
    assert c.last_entry == date(2026, 3, 15)
    # At 02:00 on the 19th the window of the 18th is still open: it is not missed yet.
    with time_machine.travel(datetime(2026, 3, 19, 2, 0, tzinfo=CHICAGO), tick=False):
        c = selectors.participant_compliance(alice_diary)
    assert c.missed_in_a_row == 2
    assert c.last7 == selectors.Tally(expected=7, completed=3)  # 03-11..03-17


def test_an_explicit_as_of_date_caps_the_expected_days(alice_diary):
    c = selectors.participant_compliance(alice_diary, as_of=date(2026, 3, 7), now=NOON_19)
    assert c.periods["RUNIN"] == selectors.Tally(7, 5)
    assert c.periods["VC"] == selectors.Tally(0, 0)
    assert c.periods["VC"].pct is None  # nothing expected: PCT empty
    assert c.current_period == "RUNIN"
    c = selectors.participant_compliance(alice_diary, as_of=date(2026, 3, 4), now=NOON_19)
    assert c.periods["RUNIN"] == selectors.Tally(4, 3)  # 01..04


def test_discontinuation_ends_the_expected_days(alice_diary):
    participants.discontinue_participant(participant=alice_diary, on=date(2026, 3, 10), actor="user:x",
                                     reason="withdrew consent")
    alice_diary.refresh_from_db()
    with time_machine.travel(NOON_19, tick=False):
        c = selectors.participant_compliance(alice_diary)
    assert c.periods["VC"] == selectors.Tally(3, 3)  # 08, 09, 10
    assert c.periods["VC"].pct == 100.0
    assert c.missed_in_a_row == 0


def test_the_vc_period_ends_on_day_56(alice_diary):
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=CHICAGO), tick=False):
        c = selectors.participant_compliance(alice_diary)
    assert c.periods["VC"] == selectors.Tally(56, 6)  # 03-08..05-02
    assert c.current_period == "VC"


def test_run_in_before_day_1_counts_from_the_planned_day_minus_7(bob):
    """bob (Warsaw): run-in from 03-20, no Day 1 yet."""
    warsaw = bob.zone
    answer(participant=bob, instrument="ITCH_NRS", answers={1: 3}, channel="sms",
                            at=datetime(2026, 3, 20, 19, 0, tzinfo=_zone(warsaw)))
    with time_machine.travel(datetime(2026, 3, 19, 12, 0, tzinfo=_zone(warsaw)), tick=False):
        c = selectors.participant_compliance(bob)
    assert c.periods["RUNIN"] == selectors.Tally(0, 0) and c.current_period is None
    with time_machine.travel(datetime(2026, 3, 22, 12, 0, tzinfo=_zone(warsaw)), tick=False):
        c = selectors.participant_compliance(bob)
    assert c.periods["RUNIN"] == selectors.Tally(3, 1)  # 20, 21, 22
    assert c.periods["VC"] == selectors.Tally(0, 0)
    assert c.last7 == selectors.Tally(2, 1) and c.missed_in_a_row == 1  # 20 done, 21 missed


def _zone(name):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def test_site_totals_sum_the_participants(study, alice_diary, bob):
    other = enroll(study, "TRUE-AD-101-0003", phone="+13125550177", zone="America/Chicago",
                   runin_start=date(2026, 3, 12),
                   first_application_at=datetime(2026, 3, 19, 9, 0, tzinfo=CHICAGO))
    for day in (12, 13, 14):
        answer(participant=other, instrument="ITCH_NRS", answers={1: 1}, channel="sms",
                                at=evening(day))
    with time_machine.travel(NOON_19, tick=False):
        summary = selectors.site_compliance(alice_diary.site)
    by_subject = {p.usubjid: c for p, c in summary.rows}
    assert by_subject["TRUE-AD-101-0003"].periods["RUNIN"] == selectors.Tally(7, 3)  # 12..18
    assert by_subject["TRUE-AD-101-0003"].periods["VC"] == selectors.Tally(1, 0)  # Day 1 = 03-19, today
    assert summary.totals["RUNIN"] == selectors.Tally(7 + 0 + 7, 5 + 0 + 3)
    assert summary.totals["VC"] == selectors.Tally(12 + 0 + 1, 6)


def test_daily_completion_grid_and_site_series(alice_diary):
    with time_machine.travel(NOON_19, tick=False):
        grid = selectors.daily_completion([alice_diary], date(2026, 3, 12), date(2026, 3, 19))
    states = [state for _, state in grid[0][1]]
    assert states == ["done", "missed", "missed", "done", "missed", "missed", "missed", "open"]
    series = selectors.completion_over_time(grid)
    assert [t.pct for _, t in series] == [100.0, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0, None]


def test_compliance_csv_export_matches_the_contract(client, coordinator, alice_diary, bob):
    client.force_login(coordinator)
    with time_machine.travel(NOON_19, tick=False):
        response = client.post("/admin/diaries/participant/", {
            "action": "export_compliance", "index": 0, "_selected_action": [str(alice_diary.pk), str(bob.pk)]})
    assert response.content.decode().splitlines() == [
        "USUBJID,PERIOD,EXPECTED,COMPLETED,PCT",
        "TRUE-AD-101-0001,RUNIN,7,5,71.4",
        "TRUE-AD-101-0001,VC,12,6,50.0",
        "TRUE-AD-101-0002,RUNIN,0,0,",
        "TRUE-AD-101-0002,VC,0,0,",
    ]
    from diaries.models import AuditEvent

    event = AuditEvent.objects.get(action="export.compliance")
    assert event.actor == "user:coordinator" and event.after["participants"] == 2
    assert len(event.after["sha256"]) == 64


def test_the_compliance_filter_finds_who_missed_diaries_this_week(client, coordinator, alice_diary, bob):
    client.force_login(coordinator)
    with time_machine.travel(NOON_19, tick=False):
        low = client.get("/admin/diaries/participant/", {"compliance": "lt80"})
        streak = client.get("/admin/diaries/participant/", {"compliance": "missed2"})
        everyone = client.get("/admin/diaries/participant/")
    assert [p.usubjid for p in low.context["cl"].result_list] == ["TRUE-AD-101-0001"]
    assert [p.usubjid for p in streak.context["cl"].result_list] == ["TRUE-AD-101-0001"]
    row = everyone.content.decode()
    assert "28.6% (2/7)" in row and "VC 50% (6/12)" in row


def test_site_compliance_page_draws_the_heat_map_and_the_line(client, coordinator, alice_diary):
    client.force_login(coordinator)
    with time_machine.travel(NOON_19, tick=False):
        response = client.get(f"/admin/diaries/site/{alice_diary.site_id}/compliance/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'aria-label="Daily diary completion per participant"' in body
    assert 'aria-label="Site compliance over time"' in body
    # 28 days to 03-19: run-in from 03-01 means every day from 03-01 is due for alice.
    assert body.count('data-state="done"') == len(RUNIN_DONE) + len(VC_DONE)
    assert body.count('data-state="missed"') == 2 + 5
    assert body.count('data-state="open"') == 1
    assert "71.4% (5/7)" in body and "50.0% (6/12)" in body


def test_no_diary_day_is_counted_twice_across_dst(alice_diary):
    """Day 1 is the spring-forward date: the study-day grid still has one date per day."""
    days = selectors.DiaryDays.of(alice_diary)
    assert days.by_period["RUNIN"] == [date(2026, 3, 1) + timedelta(days=i) for i in range(7)]
    assert days.by_period["VC"][0] == date(2026, 3, 8) and days.by_period["VC"][-1] == date(2026, 5, 2)
    assert len(set(days.by_period["VC"])) == 56


def test_today_per_site_counts_who_to_call_and_links_to_them(client, coordinator, alice_diary, bob):
    from diaries import alerts
    from notifications.models import OutboundMessage

    alerts.raise_alert(participant=alice_diary, kind="missed_diaries", key="alice:streak", detail="3 evenings")
    alerts.raise_alert(participant=bob, kind="opted_out", key="bob:stop", detail="STOP")
    alerts.raise_alert(participant=bob, kind="missed_diaries", key="bob:streak", detail="2 evenings")
    for status, hours_ago in [("failed", 2), ("undelivered", 3), ("failed", 30), ("delivered", 1)]:
        at = NOON_19 - timedelta(hours=hours_ago)
        OutboundMessage.objects.create(participant=alice_diary, kind="diary", body="x", status=status,
                                       created_at=at, updated_at=at)
    with time_machine.travel(NOON_19, tick=False):
        today = selectors.site_today(alice_diary.site)
        client.force_login(coordinator)
        body = client.get("/admin/").content.decode()
        missed = client.get("/admin/diaries/participant/", {"site__id__exact": alice_diary.site.pk,
                                                             "compliance": "missed1"})
    # alice's latest closed evenings (16..18) have no entry; bob has nothing due yet.
    assert (today.missed_yesterday, today.missed_two, today.below80) == (1, 1, 1)
    assert today.open_alerts == [("missed_diaries", "Missed diaries", 2), ("opted_out", "Opted out of SMS", 1)]
    assert [p.usubjid for p in missed.context["cl"].result_list] == ["TRUE-AD-101-0001"]
    assert "Today, per site" in body and "101 Lakeside Dermatology Research" in body
    site = alice_diary.site.pk
    assert (f'?site__id__exact={site}&amp;compliance=missed1" class="attention" '
            'aria-label="1 missed yesterday\'s diary at site 101">1</a>') in body
    assert f"?site__id__exact={site}&amp;status__exact=open&amp;kind__exact=opted_out\" class=\"attention\">" \
           "Opted out of SMS: 1</a>" in body
    # Two failed texts of one participant in the last 24 hours: one participant to call.
    assert 'class="attention" aria-label="1 participants with a text failing at site 101">1</a>' in body


def test_a_quiet_site_shows_quiet_zeros(client, coordinator, bob):
    client.force_login(coordinator)
    with time_machine.travel(NOON_19, tick=False):
        body = client.get("/admin/").content.decode()
    assert 'class="quiet" aria-label="0 missed yesterday\'s diary at site 101">0</a>' in body
    assert "None open</a>" in body and 'class="attention"' not in body


def test_the_participant_summary_has_study_day_since_day1_and_the_last_diary(alice_diary):
    from diaries import alerts

    alert = alerts.raise_alert(participant=alice_diary, kind="missed_diaries", key="alice:streak", detail="3 evenings")
    with time_machine.travel(NOON_19, tick=False):
        summary = selectors.participant_summary(alice_diary)
    assert summary.study_day == 12  # Day 1 = 03-08
    assert summary.since_day1 == selectors.Tally(expected=12, completed=6)
    assert (summary.last_itch.diary_date, summary.last_itch.derived["itch"], summary.last_itch.channel) == (
        date(2026, 3, 15), 4, "web")  # the later answer of that evening, not the superseded one
    assert summary.open_alerts == [alert]
