"""Twilio as it really behaves: its error codes, callbacks out of order and repeated, expiry,
Advanced Opt-Out and the fallback URL, against the local fake Twilio server."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from diaries import alerts, participants
from diaries.models import Alert, DiaryRecord, Participant
from notifications import outbox
from notifications.models import DeliveryStatus, InboundMessage, OutboundMessage, PromptKind, ScheduledPrompt
from notifications.providers.twilio import errors, pacing
from notifications.scheduling import dispatch
from tests.conftest import CHICAGO, enroll
from tests.fake_twilio import inbound_params, signed_post
from tests.notifications.providers.twilio.conftest import TOKEN

pytestmark = pytest.mark.django_db

INBOUND = "/sms/twilio/inbound/"


def sent(participant, body="Diary time"):
    message = outbox.queue_message(participant=participant, kind="diary", body=body)
    return message.pk, outbox.send_message(message.pk)


def callback(client, fake, message, status, code=None):
    url, params, signature = fake.status_callback(message, status, code, url=reverse("twilio-status", args=[
        OutboundMessage.objects.get(provider_sid=message["sid"]).pk]))
    return signed_post(client, url, params, TOKEN)


# -- the error-code policy --------------------------------------------------------------


@pytest.mark.parametrize(("http", "code"), [(400, 30003), (400, 30008), (429, 20429), (500, 20500), (503, 503)])
def test_transient_errors_are_retried_then_sent(twilio, alice, http, code):
    twilio.errors.append((http, code, "transient"))
    pk, status = sent(alice)
    assert status == "retry"
    message = OutboundMessage.objects.get(pk=pk)
    assert message.status == "queued" and "tried again" in message.error_message
    assert outbox.send_message(pk) == "sent"
    assert len(twilio.messages) == 1


def test_retries_back_off_with_jitter():
    delays = [outbox.retry_delay(2) for _ in range(200)]
    assert 60 <= min(delays) < max(delays) <= 180  # 120 s, each 0.5 to 1.5 times
    assert len({round(d, 3) for d in delays}) > 150  # spread, not one instant for a whole burst


@pytest.mark.parametrize("code", ["21211", "21614", "30005", "30006"])
def test_a_number_problem_fails_with_a_plain_reason_and_one_site_alert_per_participant(twilio, alice, code):
    twilio.fail_to[alice.phone] = (400, int(code), "number problem")
    first, second = sent(alice), sent(alice, "Reminder")
    assert first[1] == second[1] == "failed"
    reasons = set(OutboundMessage.objects.values_list("error_message", flat=True))
    assert reasons == {errors.POLICY[code].reason} and "call the patient" in errors.POLICY[code].reason
    alert = Alert.objects.get(kind="undeliverable")  # two failures, one alert
    assert alert.participant == alice and alert.site == alice.site and "call the patient" in alert.detail


@pytest.mark.parametrize("code", ["30007", "30034"])
def test_a_sender_problem_alerts_the_operator_once_per_cause_not_per_patient(twilio, alice, study, code):
    dave = enroll(study, "TRUE-AD-102-0009", site="102", phone="+13125550444", zone="America/Chicago")
    for p in (alice, dave, alice):
        twilio.errors.append((400, int(code), "refused"))
        assert sent(p)[1] == "failed"
    alert = Alert.objects.get()
    assert alert.kind == "sms_sender" and alert.participant is None and alert.site is None
    assert "operator" in alert.detail and "operator" in alerts.what_to_do(alert)
    assert not Participant.objects.get(pk=alice.pk).opted_out


def test_a_sender_every_carrier_refuses_is_paused_and_resumes(twilio, alice, client):
    pks = [sent(alice)[0] for _ in range(pacing.PAUSE_AFTER)]
    for message in twilio.messages:  # 30034 comes back in the status callback
        assert callback(client, twilio, message, "failed", "30034").status_code == 204
    assert pacing.is_paused()
    # One alert for the cause (30034) and one for the pause, for the operator; none for a site.
    operator = Alert.objects.filter(kind="sms_sender", participant=None, site=None)
    assert sorted(a.key.split(":")[0] for a in operator) == ["paused", "sender"]
    assert not Alert.objects.exclude(kind="sms_sender").exists()
    held, status = sent(alice)
    assert status == "retry" and len(twilio.messages) == pacing.PAUSE_AFTER  # nothing more left
    assert "paused" in OutboundMessage.objects.get(pk=held).error_message
    pacing.resume()
    assert outbox.send_message(held) == "sent"
    assert OutboundMessage.objects.filter(pk__in=pks, status="failed").count() == pacing.PAUSE_AFTER


def test_a_delivered_message_keeps_the_sender_going(twilio, alice, client):
    for _ in range(pacing.PAUSE_AFTER - 1):
        sent(alice)
    for message in twilio.messages:
        callback(client, twilio, message, "failed", "30007")
    sent(alice)
    callback(client, twilio, twilio.messages[-1], "delivered")
    sent(alice)
    callback(client, twilio, twilio.messages[-1], "failed", "30007")
    assert not pacing.is_paused()  # a refusal after a delivery starts the count again


def test_21610_opts_out_with_its_reason(twilio, alice):
    twilio.errors.append((400, 21610, "unsubscribed"))
    pk, status = sent(alice)
    assert status == "failed" and Participant.objects.get(pk=alice.pk).opted_out
    assert "STOP" in OutboundMessage.objects.get(pk=pk).error_message


def test_every_failure_on_the_participant_page_says_why(twilio, alice, admin_client):
    twilio.errors.append((400, 30006, "landline"))
    sent(alice)
    page = admin_client.get(reverse("admin:diaries_participant_change", args=[alice.pk])).content.decode()
    assert "landline or its carrier cannot take texts" in page and 'title="provider code 30006"' in page


# -- status callbacks ---------------------------------------------------------------------


def test_callbacks_out_of_order_and_repeated_end_at_the_highest_status_once_each(twilio, alice, client):
    sent(alice)
    message = twilio.messages[0]
    for url, params, signature in twilio.callbacks_in_any_order(message, ["sent", "delivered", "sent"], seed=3):
        path = url.removeprefix("https://eprp.test")
        assert signed_post(client, path, params, TOKEN, signature=signature).status_code == 204
    row = OutboundMessage.objects.get()
    assert row.status == "delivered"
    assert sorted(DeliveryStatus.objects.values_list("status", flat=True)) == ["delivered", "sent"]


@pytest.mark.parametrize("seed", range(4))
def test_a_repeated_failure_callback_alerts_once_whatever_the_order(twilio, alice, client, seed):
    sent(alice)
    calls = twilio.callbacks_in_any_order(twilio.messages[0], ["sent", "undelivered"], repeats=3, seed=seed,
                                          error_code="30005")
    for url, params, signature in calls:
        signed_post(client, url.removeprefix("https://eprp.test"), params, TOKEN, signature=signature)
    row = OutboundMessage.objects.get()
    assert (row.status, row.error_code) == ("undelivered", "30005")
    assert Alert.objects.filter(kind="undeliverable").count() == 1


def test_an_opt_out_callback_older_than_the_last_opt_in_does_not_opt_out_again(twilio, alice, client):
    with time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=UTC), tick=False):
        sent(alice)
    with time_machine.travel(datetime(2026, 3, 10, 19, 5, tzinfo=UTC), tick=False):
        participants.record_sms_consent(participant=alice, opted_in=False, actor=alice, source="sms:keyword")
    with time_machine.travel(datetime(2026, 3, 10, 19, 10, tzinfo=UTC), tick=False):
        participants.record_sms_consent(participant=alice, opted_in=True, actor=alice, source="sms:keyword")
    with time_machine.travel(datetime(2026, 3, 10, 19, 15, tzinfo=UTC), tick=False):
        callback(client, twilio, twilio.messages[0], "failed", "21610")  # late, about the first message
    assert not Participant.objects.get(pk=alice.pk).opted_out
    assert OutboundMessage.objects.get().status == "failed"
    with time_machine.travel(datetime(2026, 3, 10, 19, 20, tzinfo=UTC), tick=False):
        sent(alice)
        callback(client, twilio, twilio.messages[1], "failed", "21610")  # sent after the opt-in: it counts
    assert Participant.objects.get(pk=alice.pk).opted_out


# -- ValidityPeriod and expiry ----------------------------------------------------------------


def due_prompt(participant, kind, diary_date, due):
    return ScheduledPrompt.objects.create(participant=participant, kind=kind, slot=str(diary_date),
                                          diary_date=diary_date, due_at=due, created_at=due, updated_at=due)


def test_a_diary_prompt_is_valid_until_its_window_closes(twilio, alice, django_capture_on_commit_callbacks):
    due = datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO)
    due_prompt(alice, PromptKind.DIARY, due.date(), due)
    with time_machine.travel(due, tick=False):
        with django_capture_on_commit_callbacks(execute=False):
            dispatch.dispatch_due_prompts(now=due)
        message = OutboundMessage.objects.get()
        assert message.expires_at == datetime(2026, 3, 11, 3, 0, tzinfo=CHICAGO)
        assert outbox.send_message(message.pk) == "sent"
    assert twilio.messages[0]["validity_period"] == str(8 * 3600)  # 19:00 to 03:00


def test_nothing_waits_at_twilio_more_than_ten_hours(twilio, alice):
    sent(alice)
    assert twilio.messages[0]["validity_period"] == "36000"


def test_a_message_whose_window_closed_before_it_left_is_expired_not_sent(twilio, alice):
    message = outbox.queue_message(participant=alice, kind="diary", body="late")
    OutboundMessage.objects.filter(pk=message.pk).update(expires_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert outbox.send_message(message.pk) == "expired"
    row = OutboundMessage.objects.get()
    assert row.status == "expired" and "window closed" in row.error_message and twilio.messages == []


def test_expired_at_twilio_shows_as_expired_with_its_reason(twilio, alice, client):
    start = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)  # 19:00 in Chicago (CST, before the DST change)
    twilio.clock = lambda: start
    with time_machine.travel(start, tick=False):
        message = outbox.queue_message(participant=alice, kind="diary", body="Diary time")
        OutboundMessage.objects.filter(pk=message.pk).update(expires_at=start + timedelta(hours=8))
        outbox.send_message(message.pk)
    twilio.clock = lambda: start + timedelta(hours=8, seconds=1)  # the phone stayed off all night
    (expired,) = twilio.expire_overdue()
    with time_machine.travel(start + timedelta(hours=8, minutes=1), tick=False):
        callback(client, twilio, expired, "failed", "30001")
    row = OutboundMessage.objects.get()
    assert row.status == "expired" and row.get_status_display().startswith("Expired")
    assert "window closed" in row.error_message


# -- Advanced Opt-Out and the fallback URL ----------------------------------------------------------


def test_opt_out_type_stop_is_recorded_without_a_second_confirmation(client, alice, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    params = inbound_params(sender=alice.phone, body="stop", advanced_opt_out=True)
    assert params["OptOutType"] == "STOP"
    response = signed_post(client, INBOUND, params, TOKEN)
    assert response.status_code == 200 and "<Message>" not in response.content.decode()
    assert Participant.objects.get(pk=alice.pk).opted_out
    assert InboundMessage.objects.get().outcome == "carrier_stop"
    assert Alert.objects.filter(kind="opted_out", participant=alice).count() == 1
    assert signed_post(client, INBOUND, params, TOKEN).status_code == 200  # a repeat changes nothing
    assert InboundMessage.objects.count() == 1 and Alert.objects.filter(kind="opted_out").count() == 1
    start = inbound_params(sender=alice.phone, body="START", advanced_opt_out=True)
    assert "<Message>" not in signed_post(client, INBOUND, start, TOKEN).content.decode()
    assert not Participant.objects.get(pk=alice.pk).opted_out


def test_without_opt_out_type_our_keywords_answer(client, alice, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    params = inbound_params(sender=alice.phone, body="stop please", advanced_opt_out=True)
    assert "OptOutType" not in params  # Twilio adds it only when the whole body is the keyword
    response = signed_post(client, INBOUND, inbound_params(sender=alice.phone, body="STOP"), TOKEN)
    assert "START" in response.content.decode() and Participant.objects.get(pk=alice.pk).opted_out


def test_help_with_opt_out_type_changes_nothing_and_is_not_answered_twice(client, alice, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    response = signed_post(client, INBOUND, inbound_params(sender=alice.phone, body="HELP", advanced_opt_out=True),
                           TOKEN)
    assert "<Message>" not in response.content.decode() and not Participant.objects.get(pk=alice.pk).opted_out


@time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False)
def test_the_fallback_request_is_handled_like_the_primary_one(client, alice, settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    params = inbound_params(sender=alice.phone, body="7", ErrorCode="11205",
                            ErrorUrl="https://eprp.test/sms/twilio/inbound/")
    response = signed_post(client, INBOUND, params, TOKEN)
    assert response.status_code == 200 and "<Message>" in response.content.decode()
    assert DiaryRecord.objects.get(participant=alice).derived == {"itch": 7}
    # Twilio's primary request did arrive after all (it timed out on Twilio's side): once only.
    primary = {k: v for k, v in params.items() if k not in ("ErrorCode", "ErrorUrl")}
    assert signed_post(client, INBOUND, primary, TOKEN).status_code == 200
    assert DiaryRecord.objects.count() == 1 and InboundMessage.objects.count() == 1
