"""A text Twilio accepted, then reported undelivered for a passing reason (30003, 30008), is sent again:
after a backoff with jitter, while its window is open, a bounded number of times, once per failure
whatever the callbacks' order or repeats. Against the local fake Twilio server."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from diaries import participants
from notifications import outbox, redelivery
from notifications.inbound import Inbound, receive_sms
from notifications.models import OutboundMessage
from notifications.providers.twilio import reconcile
from tests.fake_twilio import signed_post
from tests.notifications.providers.twilio.conftest import TOKEN

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)  # 20:00 in Chicago (CDT since 8 March)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def prompt(participant, *, valid_for=timedelta(hours=8), minute=0, body="Skin Diary: how bad was your itch today?"):
    """A diary prompt sent at T0 + minute, valid until its window closes."""
    with time_machine.travel(at(minute), tick=False):
        message = outbox.queue_message(participant=participant, kind="diary", body=body)
        OutboundMessage.objects.filter(pk=message.pk).update(expires_at=at(minute) + valid_for)
        assert outbox.send_message(message.pk) == "sent"
    return OutboundMessage.objects.get(pk=message.pk)


def callback(client, fake, row, status, code=None, *, minute):
    twilio_message = next(m for m in fake.messages if m["sid"] == row.provider_sid)
    url, params, signature = fake.status_callback(twilio_message, status, code,
                                                  url=reverse("twilio-status", args=[row.pk]))
    with time_machine.travel(at(minute), tick=False):
        assert signed_post(client, url, params, TOKEN).status_code == 204


def resend_of(row) -> OutboundMessage | None:
    return OutboundMessage.objects.filter(resend_of=row).first()


@pytest.mark.parametrize("code", ["30003", "30008"])
def test_an_undelivered_text_is_sent_again_after_a_backoff_as_a_linked_row(twilio, alice, client, code):
    first = prompt(alice)
    callback(client, twilio, first, "undelivered", code, minute=1)
    first.refresh_from_db()
    again = resend_of(first)
    assert first.status == "undelivered" and first.error_code == code
    assert first.error_message.endswith("; re-sent") and "tried again" not in first.error_message
    assert again.status == "queued" and again.body == first.body and again.kind == "diary"
    assert again.expires_at == first.expires_at  # never delivered after the window closes either
    assert at(1) + timedelta(minutes=2.5) <= again.not_before <= at(1) + timedelta(minutes=7.5)
    # Not before its backoff, neither by an early task nor by the sweeper.
    with time_machine.travel(at(2), tick=False):
        assert outbox.send_message(again.pk) == "not-claimed"
    with time_machine.travel(again.not_before - timedelta(seconds=1), tick=False):
        assert outbox.requeue_stuck_messages() == 0
    assert len(twilio.messages) == 1
    with time_machine.travel(again.not_before, tick=False):
        assert outbox.send_message(again.pk) == "sent"
    assert len(twilio.messages) == 2 and twilio.messages[1]["to"] == alice.phone
    assert twilio.messages[1]["body"] == first.body
    assert int(twilio.messages[1]["validity_period"]) <= (first.expires_at - again.not_before).total_seconds()
    callback(client, twilio, OutboundMessage.objects.get(pk=again.pk), "delivered", minute=10)
    assert OutboundMessage.objects.get(pk=again.pk).status == "delivered"
    assert OutboundMessage.objects.get(pk=first.pk).status == "undelivered"  # its own story is kept


def test_the_sweeper_sends_a_re_send_whose_task_was_lost_once_its_backoff_is_over(twilio, alice, client):
    first = prompt(alice)
    callback(client, twilio, first, "failed", "30003", minute=1)
    again = resend_of(first)
    with time_machine.travel(again.not_before + timedelta(minutes=3), tick=False):
        assert outbox.requeue_stuck_messages() == 1


@pytest.mark.parametrize("seed", range(4))
def test_repeated_and_out_of_order_callbacks_send_it_again_once(twilio, alice, client, seed):
    first = prompt(alice)
    calls = twilio.callbacks_in_any_order(twilio.messages[0], ["sent", "undelivered", "failed"], repeats=3,
                                          seed=seed, error_code="30003")
    with time_machine.travel(at(1), tick=False):
        for url, params, signature in calls:
            signed_post(client, url.removeprefix("https://eprp.test"), params, TOKEN, signature=signature)
    assert OutboundMessage.objects.filter(resend_of=first).count() == 1
    assert OutboundMessage.objects.count() == 2
    # And the service itself, called again for the same failure, does nothing more.
    assert redelivery.resend_undelivered(message_id=first.pk, cause="again", now=at(2)) is None
    assert OutboundMessage.objects.count() == 2


def test_a_text_is_sent_at_most_three_times(twilio, alice, client):
    row, minute = prompt(alice), 0
    for _ in range(redelivery.MAX_RESENDS):
        minute += 1
        callback(client, twilio, row, "undelivered", "30003", minute=minute)
        row = resend_of(row)
        with time_machine.travel(row.not_before, tick=False):
            assert outbox.send_message(row.pk) == "sent"
        minute = (row.not_before - T0).total_seconds() / 60 + 1
        row.refresh_from_db()
    callback(client, twilio, row, "undelivered", "30003", minute=minute)
    row.refresh_from_db()
    assert resend_of(row) is None and len(twilio.messages) == 3
    assert row.error_message == ("The phone could not be reached (switched off or out of signal); "
                                 "not re-sent: tried 3 times.")


def test_a_text_whose_window_closes_before_another_try_could_arrive_is_not_sent_again(twilio, alice, client):
    first = prompt(alice, valid_for=timedelta(minutes=12))
    callback(client, twilio, first, "undelivered", "30003", minute=1)
    first.refresh_from_db()
    assert resend_of(first) is None
    assert first.status == "undelivered" and "not re-sent: its window closes" in first.error_message


def test_a_failure_reported_after_the_window_closed_is_expired_and_not_sent_again(twilio, alice, client):
    first = prompt(alice, valid_for=timedelta(minutes=30))
    callback(client, twilio, first, "failed", "30003", minute=31)
    first.refresh_from_db()
    assert first.status == "expired" and resend_of(first) is None


def test_no_re_send_once_the_patient_has_texted(twilio, alice, client):
    first = prompt(alice)
    receive_sms(inbound=Inbound.received(message_sid="SM" + "1" * 32, sender=alice.phone, body="7", num_media=0), now=at(3))
    callback(client, twilio, first, "undelivered", "30008", minute=4)
    first.refresh_from_db()
    assert resend_of(first) is None and "not re-sent: the patient has texted" in first.error_message


def test_a_planned_re_send_is_cancelled_when_the_patient_texts_before_it_leaves(twilio, alice, client):
    first = prompt(alice)
    callback(client, twilio, first, "undelivered", "30003", minute=1)
    again = resend_of(first)
    receive_sms(inbound=Inbound.received(message_sid="SM" + "2" * 32, sender=alice.phone, body="7", num_media=0), now=at(2))
    with time_machine.travel(again.not_before, tick=False):
        assert outbox.send_message(again.pk) == "cancelled"
    again.refresh_from_db()
    assert "patient has texted" in again.error_message and len(twilio.messages) == 1


def test_no_re_send_to_a_patient_who_opted_out(twilio, alice, client):
    first = prompt(alice)
    with time_machine.travel(at(1), tick=False):
        participants.record_sms_consent(participant=alice, opted_in=False, actor=alice, source="sms:keyword")
    callback(client, twilio, first, "undelivered", "30003", minute=2)
    first.refresh_from_db()
    assert resend_of(first) is None and "opted out" in first.error_message


def test_a_one_time_link_is_not_sent_again(twilio, alice, client):
    with time_machine.travel(at(0), tick=False):
        link = outbox.send_diary_link(participant=alice)
        outbox.send_message(link.pk)
    callback(client, twilio, OutboundMessage.objects.get(pk=link.pk), "undelivered", "30003", minute=1)
    link.refresh_from_db()
    assert resend_of(link) is None and "one-time link" in link.error_message


def test_a_permanent_failure_is_not_sent_again(twilio, alice, client):
    first = prompt(alice)
    callback(client, twilio, first, "undelivered", "30005", minute=1)
    assert resend_of(first) is None


def test_a_transient_failure_found_by_reconciliation_is_sent_again_once(twilio, alice):
    first = prompt(alice)
    twilio.set_status(twilio.messages[0], "undelivered", "30003")
    twilio.clock = lambda: at(0)
    for minute in (60, 61):  # twice: the second run changes nothing
        with time_machine.travel(at(minute), tick=False):
            reconcile.reconcile_sms(since=at(-60), until=at(minute), now=at(minute))
    assert OutboundMessage.objects.filter(resend_of=first).count() == 1


def test_re_sends_back_off_with_jitter():
    first = [redelivery.resend_delay(1).total_seconds() for _ in range(200)]
    second = [redelivery.resend_delay(2).total_seconds() for _ in range(200)]
    assert 150 <= min(first) < max(first) <= 450  # 5 min, 0.5 to 1.5 times
    assert 450 <= min(second) < max(second) <= 1350  # 15 min
    assert len({round(d, 3) for d in first}) > 150  # spread, not one instant for a whole burst


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("statuses", [("undelivered", "undelivered"), ("undelivered", "failed")])
def test_concurrent_failure_callbacks_send_it_again_once(twilio, alice, statuses):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks serialise only on PostgreSQL; SQLite serialises whole transactions (CI runs this)")
    first = prompt(alice)
    barrier = threading.Barrier(len(statuses))
    answers = []

    def deliver(status):
        client = Client()
        url, params, signature = twilio.status_callback(twilio.messages[0], status, "30003",
                                                        url=reverse("twilio-status", args=[first.pk]))
        barrier.wait()
        try:
            answers.append(signed_post(client, url, params, TOKEN).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(s,)) for s in statuses]
    with time_machine.travel(at(1), tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert answers == [204, 204]
    assert OutboundMessage.objects.filter(resend_of=first).count() == 1
