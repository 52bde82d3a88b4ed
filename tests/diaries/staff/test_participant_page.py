"""The participant page and the site's actions: enroll, Day 1, visits, SMS pause/resume, links, reminders."""

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from diaries.models import AuditEvent, Consent, Participant, Visit
from tests.conftest import CHICAGO

pytestmark = pytest.mark.django_db


def page(client, participant):
    response = client.get(f"/admin/diaries/participant/{participant.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def action(client, name, *participants):
    return client.post("/admin/diaries/participant/", {
        "action": name, "index": 0, "_selected_action": [str(p.pk) for p in participants]}, follow=True)


def test_the_participant_page_shows_what_a_coordinator_needs(client, coordinator, site_a_data):
    alice = site_a_data["participant"]
    client.force_login(coordinator)
    with time_machine.travel(datetime(2026, 3, 10, 12, 0, tzinfo=CHICAGO), tick=False):
        body = page(client, alice)
    for expected in [
        "Vehicle-controlled",  # phase
        "2026-03-08",  # Day 1
        "Week 2, 2026-03-22 (nominal)",  # next visit: Day 15
        "Opted in",  # SMS consent
        "Last 7 closed diary days", "Missed in a row", "2026-03-09",  # compliance and last entry
        "Skin Diary, diary for Mon", "Delivered",  # a text out with its delivery status
        "answer",  # a text in and its outcome
        "Evening diary prompt", "2026-03-11 00:00",  # an upcoming prompt (19:00 CDT in UTC)
        "No diary for 2 evenings",  # an alert and why it fired
        "participant.enroll", "diary.answer", "alert.open",  # the audit trail
        "Record Day 1", "Record a visit", "Send diary link", "Pause SMS",
    ]:
        assert expected in body, expected
    assert alice.phone_masked in body and "3125550111" not in body  # the phone only masked
    assert "RUX15" not in body  # the arm is blinded


def test_the_monitor_sees_the_page_without_the_buttons(client, monitor, site_a_data):
    client.force_login(monitor)
    body = page(client, site_a_data["participant"])
    assert "No diary for 2 evenings" in body
    assert "Record Day 1" not in body and "Send diary link" not in body


def test_enrollment_through_the_admin(client, coordinator, study):
    client.force_login(coordinator)
    site_a = study.sites.get(number="101")
    form = client.get("/admin/diaries/participant/add/").context["form"]
    assert [str(s) for s in form.fields["site"].queryset] == ["101 Lakeside Dermatology Research"]
    response = client.post("/admin/diaries/participant/add/", {
        "site": site_a.pk, "usubjid": "TRUE-AD-101-0009", "phone": "+13125550199", "zone": "America/Chicago",
        "language": "en", "runin_start": "2026-04-01", "age_group": "18+"})
    p = Participant.objects.get(usubjid="TRUE-AD-101-0009")
    assert response.status_code == 302 and response["Location"].endswith(f"/{p.pk}/change/")
    assert p.phone == "+13125550199" and p.site == site_a
    assert AuditEvent.objects.get(action="participant.enroll", object_id=str(p.pk)).actor == "user:coordinator"
    # A rule broken in the service is shown on the form, and nothing is written.
    response = client.post("/admin/diaries/participant/add/", {
        "site": site_a.pk, "usubjid": "TRUE-AD-101-0010", "phone": "+13125550199", "zone": "America/Chicago",
        "language": "en", "runin_start": "2026-04-01", "age_group": "18+"})
    assert "this phone number cannot be used" in response.content.decode()


def test_enrolment_defaults_from_the_site_and_checks_the_phone_for_its_country(client, superuser, study):
    client.force_login(superuser)
    madrid = study.sites.get(number="301")
    form = client.get(f"/admin/diaries/participant/add/?site={madrid.pk}").context["form"]
    assert (form.fields["site"].initial, form.fields["zone"].initial, form.fields["language"].initial) == (
        madrid, "Europe/Madrid", "es")
    assert dict(form.fields["language"].choices) == {"en": "English", "es": "Spanish (español)"}
    first = client.get("/admin/diaries/participant/add/").context["form"]
    assert (first.fields["zone"].initial, first.fields["language"].initial) == ("America/Chicago", "en")

    base = {"site": madrid.pk, "usubjid": "TRUE-AD-301-0009", "zone": "Europe/Madrid", "language": "es",
            "runin_start": "2026-04-01", "age_group": "18+"}
    response = client.post("/admin/diaries/participant/add/", {**base, "phone": "+13125550199"})
    assert response.status_code == 200
    assert response.context["form"].errors["phone"] == [
        "+13*******99 is a number of US, the site is in ES: enter a ES number, e.g. +34 612 34 56 78"]
    assert not Participant.objects.filter(usubjid="TRUE-AD-301-0009").exists()
    # As dialled in Spain, without the country code: stored in E.164.
    assert client.post("/admin/diaries/participant/add/", {**base, "phone": "612 555 019"}).status_code == 302
    assert Participant.objects.get(usubjid="TRUE-AD-301-0009").phone == "+34612555019"


def test_charlie_cannot_enroll_at_site_a(client, charlie_staff, study):
    client.force_login(charlie_staff)
    response = client.post("/admin/diaries/participant/add/", {
        "site": study.sites.get(number="101").pk, "usubjid": "TRUE-AD-101-0009", "phone": "+13125550199",
        "zone": "America/Chicago", "language": "en", "runin_start": "2026-04-01", "age_group": "18+"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Participant.objects.filter(usubjid="TRUE-AD-101-0009").exists()


def test_day1_is_entered_in_the_participants_local_time(client, coordinator, bob):
    client.force_login(coordinator)
    url = f"/admin/diaries/participant/{bob.pk}/day1/"
    assert client.post(url, {"first_application": "2026-03-27 09:30"}).status_code == 302
    bob.refresh_from_db()
    assert bob.first_application_at == datetime(2026, 3, 27, 9, 30, tzinfo=ZoneInfo("Europe/Warsaw"))
    assert bob.day1 == date(2026, 3, 27)
    # Changing it needs a reason.
    response = client.post(url, {"first_application": "2026-03-27 10:30"})
    assert "needs a reason" in response.content.decode()
    assert client.post(url, {"first_application": "2026-03-27 10:30", "reason": "Typo in the time"}).status_code == 302
    event = AuditEvent.objects.filter(action="participant.first_application", object_id=str(bob.pk)).first()
    assert event.reason == "Typo in the time" and event.actor == "user:coordinator"


def test_a_visit_is_recorded_and_moving_it_needs_a_reason(client, coordinator, alice):
    client.force_login(coordinator)
    url = f"/admin/diaries/participant/{alice.pk}/visit/"
    assert client.post(url, {"week": "2", "visit_date": "2026-03-23"}).status_code == 302
    assert Visit.objects.get(participant=alice, week=2).visit_date == date(2026, 3, 23)
    assert "needs a reason" in client.post(url, {"week": "2", "visit_date": "2026-03-24"}).content.decode()
    with time_machine.travel(datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO), tick=False):
        assert "Week 2, 2026-03-23" in page(client, alice)


def test_pause_and_resume_sms_are_recorded_as_the_sites_decision(client, coordinator, alice):
    client.force_login(coordinator)
    action(client, "pause_sms", alice)
    alice.refresh_from_db()
    assert alice.sms_consent == Consent.OPTED_OUT
    event = AuditEvent.objects.get(action="participant.sms_opted_out")
    assert event.after["source"] == "site" and event.actor == "user:coordinator"
    assert "Resume SMS" in page(client, alice)
    action(client, "resume_sms", alice)
    alice.refresh_from_db()
    assert alice.sms_consent == Consent.OPTED_IN


def test_send_diary_link_queues_an_sms_with_a_link(client, coordinator, alice):
    from notifications.models import OutboundMessage

    client.force_login(coordinator)
    response = action(client, "send_diary_link", alice)
    assert "Diary link queued for 1 participant" in response.content.decode()
    message = OutboundMessage.objects.get(participant=alice, kind="link")
    assert "/diary/" in message.body


def test_no_link_to_an_opted_out_participant(client, coordinator, alice):
    from notifications.models import OutboundMessage

    client.force_login(coordinator)
    action(client, "pause_sms", alice)
    response = action(client, "send_diary_link", alice)
    assert "opted out of SMS" in response.content.decode()
    assert not OutboundMessage.objects.filter(participant=alice, kind="link").exists()


def test_resend_reminder_goes_through_the_sms_service_when_it_exists(client, coordinator, alice, monkeypatch):
    from notifications import inbound

    sent = []
    monkeypatch.setattr(inbound, "send_prompt_now", lambda *, participant, kind: sent.append((participant, kind)) or 1)
    client.force_login(coordinator)
    response = action(client, "resend_reminder", alice)
    assert sent == [(alice, "reminder")]
    assert "Reminder queued for 1 participant" in response.content.decode()


def test_the_home_page_leads_to_who_missed_diaries(client, coordinator, charlie_staff, site_a_data):
    client.force_login(coordinator)
    body = client.get("/admin/").content.decode()
    site_a = site_a_data["site"]
    assert "Today, per site" in body and "101 Lakeside Dermatology Research" in body
    assert f"?site__id__exact={site_a.pk}&amp;compliance=lt80" in body
    assert "Missed diaries: 1</a>" in body
    client.force_login(charlie_staff)
    body = client.get("/admin/").content.decode()
    assert "201 Centrum Dermatologii Wola" in body and "Lakeside" not in body


def test_the_audit_list_reads_as_sentences_with_the_participant(client, coordinator, site_a_data):
    alice = site_a_data["participant"]
    client.force_login(coordinator)
    response = client.get("/admin/diaries/auditevent/")
    rows = {tuple(r) for r in (_cells(row) for row in _result_rows(response))}
    assert ("TRUE-AD-101-0001", "system (test)", "enrolled at site 101, America/Chicago, language en", "-") in rows
    assert ("TRUE-AD-101-0001", "participant", "itch 6 (2026-03-09)", "-") in rows
    assert ("TRUE-AD-101-0001", "system", "alert opened: No diary for 2 evenings", "-") in rows
    assert str(alice.pk) not in response.content.decode().split('id="result_list"')[1]


def test_an_alert_says_why_it_fired_and_what_to_do(client, coordinator, site_a_data):
    alert = site_a_data["alert"]
    client.force_login(coordinator)
    page = client.get(f"/admin/diaries/alert/{alert.pk}/change/").content.decode()
    assert "No diary for 2 evenings" in page and "Call the participant: ask whether the texts arrive" in page
    listing = client.get("/admin/diaries/alert/")
    headers = [h.strip() for h in re.findall(r'<th scope="col"[^>]*>.*?<div class="text">(?:<a[^>]*>|<span>)(.*?)<',
                                             listing.content.decode(), re.S)]
    assert [h for h in headers if h][:3] == ["Why", "Participant", "Kind"], headers


def _result_rows(response):
    table = response.content.decode().split('id="result_list"')[1].split("</table>")[0]
    return re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S)


def _cells(row):
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
    # "when" first, then participant, who, what, reason (the audit list has no actions, so no selection box)
    return [re.sub(r"<[^>]+>", "", c).strip() for c in cells[1:5]]
