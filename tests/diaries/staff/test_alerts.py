"""Alerts in the admin: e-mailed to the site's staff when raised, acknowledged, closed with a note."""

import pytest
from django.core import mail

from diaries import alerts
from diaries.models import AlertKind, AlertStatus, AuditEvent

pytestmark = pytest.mark.django_db


def test_a_new_alert_is_emailed_to_the_sites_staff_without_phi(alice, coordinator, charlie_staff, monitor,
                                                              tasks_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alert = alerts.raise_alert(participant=alice, kind=AlertKind.LESIONS_SPREAD, key="r:1",
                                     detail="Patient says: rash spreading to my face")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["coordinator@example.org"]  # not charlie (site B), not the monitor
    assert "TRUE-AD-101-0001" in message.subject and "Recurrence in new areas or extensive" in message.body
    assert f"https://eprp.test/admin/diaries/alert/{alert.pk}/change/" in message.body
    text = message.subject + message.body
    assert "face" not in text and alice.phone not in text and alice.phone[-4:] not in text


def test_an_alert_raised_twice_is_emailed_once(alice, coordinator, tasks_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alerts.raise_alert(participant=alice, kind=AlertKind.MISSED_DIARIES, key="m:1")
        alerts.raise_alert(participant=alice, kind=AlertKind.MISSED_DIARIES, key="m:1")
    assert len(mail.outbox) == 1


def test_unknown_sender_alerts_belong_to_no_site_and_send_no_mail(study, coordinator,
                                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alerts.raise_alert(study=study, kind=AlertKind.UNKNOWN_SENDER, key="u:1")
    assert mail.outbox == []


def test_acknowledge_then_close_with_a_note(client, coordinator, alice):
    alert = alerts.raise_alert(participant=alice, kind=AlertKind.MISSED_DIARIES, key="m:1",
                                 detail="No diary for 2 evenings")
    client.force_login(coordinator)
    page = client.get(f"/admin/diaries/alert/{alert.pk}/change/").content.decode()
    assert "No diary for 2 evenings" in page and "Acknowledge" in page

    client.post("/admin/diaries/alert/", {"action": "acknowledge", "index": 0, "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == coordinator

    close_url = f"/admin/diaries/alert/{alert.pk}/close/"
    response = client.post(close_url, {"note": ""})
    assert response.status_code == 200 and response.context["form"].errors
    response = client.post(close_url, {"note": "Called her; she was travelling."})
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED and alert.closed_by == coordinator
    assert alert.note == "Called her; she was travelling."
    assert [e.action for e in AuditEvent.objects.filter(object_type="Alert").order_by("id")] == [
        "alert.open", "alert.acknowledge", "alert.close"]
    listing = client.get("/admin/diaries/alert/", {"status__exact": "closed"})
    assert [a.pk for a in listing.context["cl"].result_list] == [alert.pk]


def test_acknowledge_button_on_the_alert_page(client, coordinator, alice):
    alert = alerts.raise_alert(participant=alice, kind=AlertKind.OPTED_OUT, key="o:1")
    client.force_login(coordinator)
    client.post(f"/admin/diaries/alert/{alert.pk}/change/", {"_acknowledge": "1"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_the_open_alerts_filter(client, coordinator, alice, bob):
    alerts.raise_alert(participant=alice, kind=AlertKind.MISSED_DIARIES, key="m:1")
    client.force_login(coordinator)
    response = client.get("/admin/diaries/participant/", {"alerts": "open"})
    assert [p.usubjid for p in response.context["cl"].result_list] == [alice.usubjid]
