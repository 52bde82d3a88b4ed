"""Site alerts: opened once per occurrence, acknowledged, closed with a note."""

from datetime import datetime

import pytest

from diaries import alerts, participants
from diaries.errors import ServiceError
from diaries.models import Alert, AlertKind, AlertStatus, AuditEvent
from tests.conftest import CHICAGO
from tests.fake_twilio import signed_post

pytestmark = pytest.mark.django_db


def chicago(*args):
    return datetime(*args, tzinfo=CHICAGO)


def test_alert_lifecycle_needs_a_note_to_close(alice, django_user_model):
    nurse = django_user_model.objects.create_user("nurse2", is_staff=True)
    alert = alerts.raise_alert(participant=alice, kind="missed_diaries", key="streak:2026-03-10")
    assert alerts.raise_alert(participant=alice, kind="missed_diaries", key="streak:2026-03-10") is None
    alerts.acknowledge_alert(alert=alert, user=nurse)
    with pytest.raises(ServiceError, match="note"):
        alerts.close_alert(alert=alert, user=nurse, note="")
    closed = alerts.close_alert(alert=alert, user=nurse, note="Called the patient; phone was broken.")
    assert closed.status == "closed" and closed.closed_by == nurse
    assert [e.action for e in AuditEvent.objects.filter(object_type="Alert").order_by("id")] == [
        "alert.open", "alert.acknowledge", "alert.close"]


# The opt-out alert's lifecycle: STOP opens it, opting back in closes it with a note.

INBOUND = "/sms/twilio/inbound/"


def _text(client, settings, participant, body, sid):
    settings.TWILIO_AUTH_TOKEN = "test-auth-token"
    response = signed_post(client, INBOUND, {"MessageSid": sid, "AccountSid": "AC" + "1" * 32, "From": participant.phone,
                                             "To": "+13125550999", "Body": body, "NumMedia": "0"}, "test-auth-token")
    assert response.status_code == 200, response.content


def _opt_out_alerts(participant):
    return list(Alert.objects.filter(participant=participant, kind=AlertKind.OPTED_OUT).order_by("created_at"))


def test_start_after_stop_closes_the_opt_out_alert_with_a_note(client, settings, alice):
    _text(client, settings, alice, "STOP", "SMstop1")
    [alert] = _opt_out_alerts(alice)
    assert alert.status == AlertStatus.OPEN
    _text(client, settings, alice, "START", "SMstart1")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED and alert.closed_at is not None
    assert alert.closed_by is None  # nobody at the site closed it
    assert alert.note == "Closed automatically: the participant opted back in by texting START."
    closing = AuditEvent.objects.get(object_type="Alert", object_id=str(alert.pk), action="alert.close")
    assert closing.actor == f"participant:{alice.usubjid}" and closing.reason == alert.note
    assert closing.before == {"status": "open"}


def test_the_sites_resume_closes_an_acknowledged_opt_out_alert(alice, django_user_model):
    nurse = django_user_model.objects.create_user("nurse3", is_staff=True)
    participants.record_sms_consent(participant=alice, opted_in=False, actor=alice, source="sms:keyword")
    alert = alerts.raise_alert(participant=alice, kind=AlertKind.OPTED_OUT, key="optout:1")
    alerts.acknowledge_alert(alert=alert, user=nurse)
    other = alerts.raise_alert(participant=alice, kind=AlertKind.MISSED_DIARIES, key="streak:1")
    participants.record_sms_consent(participant=alice, opted_in=True, actor=nurse, source="site")
    alert.refresh_from_db()
    other.refresh_from_db()
    assert alert.status == AlertStatus.CLOSED
    assert alert.note == "Closed automatically: the participant opted back in on the site's word (Resume SMS)."
    assert AuditEvent.objects.get(object_id=str(alert.pk), action="alert.close").actor == "user:nurse3"
    assert other.status == AlertStatus.OPEN  # only the opt-out alert lost its reason


def test_a_second_stop_opens_a_new_alert_and_the_closed_one_stays_closed(client, settings, alice):
    _text(client, settings, alice, "STOP", "SMstop1")
    _text(client, settings, alice, "START", "SMstart1")
    _text(client, settings, alice, "STOP", "SMstop2")
    first, second = _opt_out_alerts(alice)
    assert (first.status, second.status) == (AlertStatus.CLOSED, AlertStatus.OPEN)
    alice.refresh_from_db()
    assert alice.opted_out
    _text(client, settings, alice, "START", "SMstart2")
    second.refresh_from_db()
    assert second.status == AlertStatus.CLOSED
    assert AuditEvent.objects.filter(object_type="Alert", action="alert.close").count() == 2


def test_an_opt_in_that_changes_nothing_closes_nothing(alice):
    alert = alerts.raise_alert(participant=alice, kind=AlertKind.OPTED_OUT, key="optout:stale")
    participants.record_sms_consent(participant=alice, opted_in=True, actor=alice, source="sms:keyword")
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN  # already opted in: not an opt-in, the alert stays for the site
