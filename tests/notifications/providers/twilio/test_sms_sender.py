"""A sender every carrier refuses stays paused until the operator resumes it (`manage.py sms_sender`),
audited, with one operator alert per pause; the admin shows the pause."""

from datetime import timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from diaries.models import Alert, AuditEvent
from notifications import outbox
from notifications.models import OutboundMessage
from notifications.providers.twilio import pacing
from tests.fake_twilio import signed_post
from tests.notifications.providers.twilio.conftest import TOKEN

pytestmark = pytest.mark.django_db


def pause_by_refusals(twilio, alice, client, code="30034"):
    for _ in range(pacing.PAUSE_AFTER):
        message = outbox.queue_message(participant=alice, kind="diary", body="Diary time")
        assert outbox.send_message(message.pk) == "sent"
    for sent in twilio.messages:
        url, params, signature = twilio.status_callback(sent, "failed", code, url=reverse(
            "twilio-status", args=[OutboundMessage.objects.get(provider_sid=sent["sid"]).pk]))
        assert signed_post(client, url, params, TOKEN).status_code == 204
    assert pacing.is_paused()


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("ops", "ops@example.org", "ops-password-123", is_staff=True)


def test_the_pause_holds_until_the_operator_resumes_it_audited(twilio, alice, client, operator, capsys):
    pause_by_refusals(twilio, alice, client)
    call_command("sms_sender", "status")
    out = capsys.readouterr().out
    assert "PAUSED since" in out and f"after {pacing.PAUSE_AFTER} refusals" in out and "open alert" in out
    held = outbox.queue_message(participant=alice, kind="diary", body="held")
    assert outbox.send_message(held.pk) == "retry" and len(twilio.messages) == pacing.PAUSE_AFTER
    with pytest.raises(CommandError, match="--by"):
        call_command("sms_sender", "resume")
    with pytest.raises(CommandError, match="no active staff user"):
        call_command("sms_sender", "resume", "--by", "nobody", "--reason", "fixed")
    assert pacing.is_paused()
    call_command("sms_sender", "resume", "--by", "ops", "--reason", "10DLC campaign approved")
    assert not pacing.is_paused() and "resumed" in capsys.readouterr().out
    event = AuditEvent.objects.get(action="sms_sender.resume")
    assert event.actor == "user:ops" and event.reason == "10DLC campaign approved"
    assert event.object_id == pacing.sender() and event.before["refused"] == pacing.PAUSE_AFTER
    pause_alert = Alert.objects.get(kind="sms_sender", key__startswith="paused:")
    assert pause_alert.status == "closed" and pause_alert.closed_by == operator
    assert "10DLC campaign approved" in pause_alert.note
    assert AuditEvent.objects.filter(action="sms_sender.pause").count() == 1
    assert outbox.send_message(held.pk) == "sent"
    call_command("sms_sender", "resume", "--by", "ops", "--reason", "again")  # nothing paused: nothing audited
    assert "not paused" in capsys.readouterr().out and AuditEvent.objects.filter(action="sms_sender.resume").count() == 1


def test_a_second_pause_after_a_resume_alerts_again_and_a_cause_once(twilio, alice, client, operator):
    pause_by_refusals(twilio, alice, client)
    call_command("sms_sender", "resume", "--by", "ops", "--reason", "registered")
    twilio.messages.clear()
    pacing.record_delivered()
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True):
        pause_by_refusals(twilio, alice, client)
    assert Alert.objects.filter(kind="sms_sender", key__startswith="paused:").count() == 2
    assert Alert.objects.filter(kind="sms_sender", key__startswith="sender:").count() == 1  # 30034 alerted once


def test_the_admin_shows_the_pause_and_the_operator_alert(twilio, alice, client, admin_client):
    pause_by_refusals(twilio, alice, client, code="30007")
    home = admin_client.get(reverse("admin:index")).content.decode()
    assert "Sending is paused" in home and "sms_sender resume" in home
    alerts = admin_client.get(reverse("admin:diaries_alert_changelist") + "?kind__exact=sms_sender").content.decode()
    assert "sending is paused since" in alerts and "The carrier filtered the text" in alerts
    page = admin_client.get(reverse("admin:diaries_participant_change", args=[alice.pk])).content.decode()
    assert "Sending is paused" in page


def test_operator_alerts_are_e_mailed_to_the_operator_not_to_a_site(twilio, alice, client, settings, mailoutbox):
    from diaries.alert_email import email_site_staff

    pause_by_refusals(twilio, alice, client)
    operator_alerts = list(Alert.objects.filter(kind="sms_sender"))
    assert [email_site_staff(a) for a in operator_alerts] == [0, 0]  # no OPERATOR_EMAILS: the admin only
    settings.OPERATOR_EMAILS = ["ops@example.org"]
    assert [email_site_staff(a) for a in operator_alerts] == [1, 1]
    assert {m.to[0] for m in mailoutbox} == {"ops@example.org"}
    paused = next(m for m in mailoutbox if "sending is paused" in m.body)
    assert "sms_sender resume" in paused.body and alice.phone not in paused.body and alice.usubjid not in paused.body
