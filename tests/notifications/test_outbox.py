"""The outbox against a local fake Twilio server, through the real twilio SDK."""

import pytest

from diaries.models import Alert, Participant
from notifications import inbound, outbox
from notifications.models import OutboundMessage
from notifications.providers.twilio.transport import TwilioTransport
from tests.fake_twilio import FakeTwilio

pytestmark = pytest.mark.django_db
ACCOUNT = "AC" + "a" * 32
TOKEN = "fake-token"


@pytest.fixture
def twilio(settings):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ACCOUNT
    settings.TWILIO_AUTH_TOKEN = TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "b" * 32
    with FakeTwilio(TOKEN, ACCOUNT) as fake:
        settings.TWILIO_API_BASE = fake.base_url
        yield fake


def queued(participant, body="Diary time"):
    return outbox.queue_message(participant=participant, kind="diary", body=body)


def test_a_message_is_sent_once_with_its_status_callback(twilio, alice):
    message = queued(alice)
    assert outbox.send_message(message.pk) == "sent"
    assert outbox.send_message(message.pk) == "not-claimed"  # a second run sends nothing
    assert len(twilio.messages) == 1
    sent = twilio.messages[0]
    assert sent["to"] == alice.phone and sent["body"] == "Diary time"
    assert sent["messaging_service_sid"] == "MG" + "b" * 32
    assert sent["status_callback"] == f"https://eprp.test/sms/twilio/status/{message.pk}/"
    message.refresh_from_db()
    assert (message.status, message.provider_sid, message.attempts) == ("sent", sent["sid"], 1)


def test_from_number_is_used_without_a_messaging_service(twilio, alice, settings):
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    settings.TWILIO_FROM_NUMBER = "+13125550999"
    outbox.send_message(queued(alice).pk)
    assert twilio.messages[0]["from"] == "+13125550999"


def test_21610_marks_the_participant_opted_out(twilio, alice):
    twilio.errors.append((400, 21610, "Attempt to send to unsubscribed recipient"))
    message = queued(alice)
    assert outbox.send_message(message.pk) == "failed"
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "21610")
    assert Participant.objects.get(pk=alice.pk).opted_out
    assert outbox.queue_message(participant=alice, kind="diary", body="x") is None


def test_a_500_is_retried_and_then_sent(twilio, alice):
    twilio.errors.append((500, 20500, "Internal Server Error"))
    message = queued(alice)
    assert outbox.send_message(message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == "queued" and message.error_code == "20500"
    assert outbox.send_message(message.pk) == "sent"
    assert len(twilio.messages) == 1
    assert OutboundMessage.objects.get().attempts == 2


def test_retries_stop_after_the_maximum(twilio, alice):
    twilio.errors.extend([(503, 20503, "Service Unavailable")] * outbox.MAX_ATTEMPTS)
    message = queued(alice)
    results = [outbox.send_message(message.pk) for _ in range(outbox.MAX_ATTEMPTS)]
    assert results == ["retry"] * (outbox.MAX_ATTEMPTS - 1) + ["failed"]
    assert twilio.messages == []


def test_an_invalid_number_fails_and_alerts_the_site(twilio, alice):
    twilio.errors.append((400, 21211, "The 'To' number is not a valid phone number."))
    assert outbox.send_message(queued(alice).pk) == "failed"
    alert = Alert.objects.get(kind="undeliverable")
    assert alert.site == alice.site and alert.participant == alice


def test_unreachable_provider_is_retryable(settings, alice):
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = ACCOUNT, TOKEN
    settings.TWILIO_MESSAGING_SERVICE_SID = "MG" + "b" * 32
    settings.TWILIO_API_BASE = "http://127.0.0.1:9"  # nothing listens on the discard port
    assert outbox.send_message(queued(alice).pk) == "retry"


def test_opted_out_after_queueing_nothing_leaves(twilio, alice):
    from diaries import participants

    message = queued(alice)
    participants.record_sms_consent(participant=alice, opted_in=False, actor=alice, source="sms:STOP")
    assert outbox.send_message(message.pk) == "cancelled"
    assert twilio.messages == []


def test_transport_is_the_twilio_sdk(twilio, alice):
    sent = TwilioTransport().send(to=alice.phone, body="x", status_callback=None)
    assert sent.provider_sid.startswith("SM")


def test_stuck_queued_messages_are_requeued(alice, settings):
    from datetime import timedelta

    from django.utils import timezone

    message = queued(alice)
    OutboundMessage.objects.filter(pk=message.pk).update(updated_at=timezone.now() - timedelta(minutes=10))
    assert outbox.requeue_stuck_messages() == 1


def test_messages_stranded_in_sending_are_failed_not_resent_and_twilio_has_the_last_word(alice, twilio):
    from datetime import timedelta

    from django.utils import timezone

    stranded, recent = queued(alice), queued(alice)
    OutboundMessage.objects.filter(pk__in=[stranded.pk, recent.pk]).update(status="sending")
    OutboundMessage.objects.filter(pk=stranded.pk).update(updated_at=timezone.now() - timedelta(minutes=20))
    assert outbox.fail_stranded_messages() == 1
    stranded.refresh_from_db()
    recent.refresh_from_db()
    assert (stranded.status, stranded.error_code, recent.status) == ("failed", "stranded", "sending")
    assert outbox.requeue_stuck_messages(older_than=timedelta(0)) == 0 and twilio.messages == []
    # Twilio's early "queued" must not put it back in our queue (the sweeper would send it again).
    assert not outbox.record_delivery_status(message_id=stranded.pk, status="queued")
    # It had left after all: Twilio's callback wins over our guess; an ordinary failure stays failed.
    assert outbox.record_delivery_status(message_id=stranded.pk, status="delivered")
    stranded.refresh_from_db()
    assert stranded.status == "delivered"
    other = queued(alice)
    OutboundMessage.objects.filter(pk=other.pk).update(status="failed", error_code="30008")
    assert not outbox.record_delivery_status(message_id=other.pk, status="delivered")


def test_send_prompt_now_moves_the_conversation_so_the_answer_is_the_diary(alice, client, settings):
    from datetime import datetime

    import time_machine

    from diaries.models import DiaryRecord
    from tests.conftest import CHICAGO
    from tests.fake_twilio import signed_post

    settings.TWILIO_AUTH_TOKEN = TOKEN
    with time_machine.travel(datetime(2026, 3, 10, 21, 40, tzinfo=CHICAGO), tick=False):
        message = inbound.send_prompt_now(participant=alice, kind="reminder")
        assert message is not None and message.kind == "reminder"
        signed_post(client, "/sms/twilio/inbound/", {"MessageSid": "SMr1", "From": alice.phone, "Body": "4"}, TOKEN)
        assert DiaryRecord.objects.get(participant=alice).derived == {"itch": 4}
    with time_machine.travel(datetime(2026, 3, 10, 12, 0, tzinfo=CHICAGO), tick=False):
        assert inbound.send_prompt_now(participant=alice, kind="reminder") is None  # window closed


def test_many_queued_messages_go_to_the_workers_in_chunks(monkeypatch, django_capture_on_commit_callbacks):
    from notifications import tasks

    sent_chunks = []
    monkeypatch.setattr(tasks.send_messages_task, "delay", lambda ids: sent_chunks.append(ids))
    monkeypatch.setattr(tasks.send_message_task, "delay", lambda i: sent_chunks.append([i]))
    ids = [f"00000000-0000-0000-0000-{n:012d}" for n in range(120)]
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue_after_commit(ids)
    assert [len(c) for c in sent_chunks] == [50, 50, 20]
    assert sum(sent_chunks, []) == ids
    with django_capture_on_commit_callbacks(execute=True):
        outbox.enqueue_after_commit(ids[:1])
    assert sent_chunks[-1] == ids[:1]


def test_send_messages_task_sends_each_and_retries_alone(alice, monkeypatch, settings):
    from notifications import tasks
    from notifications.providers import TransportError, locmem

    settings.SMS_SEND_THREADS = 1  # fail_next fails the next send: one at a time, in order
    retried = []
    monkeypatch.setattr(tasks.send_message_task, "apply_async", lambda args, countdown: retried.append(args[0]))
    locmem.outbox.clear()
    locmem.fail_next[:] = [TransportError("busy", code="20429", retryable=True)]
    first, second = queued(alice, "one"), queued(alice, "two")
    assert tasks.send_messages_task([str(first.pk), str(second.pk)]) == {"retry": 1, "sent": 1}
    assert retried == [str(first.pk)] and [m["body"] for m in locmem.outbox] == ["two"]


def many_queued(study, count: int) -> list[OutboundMessage]:
    from tests.conftest import enroll

    people = [enroll(study, f"TRUE-AD-101-07{i:02d}", phone=f"+1312557{i:04d}", zone="America/Chicago")
              for i in range(count)]
    return [queued(p, f"Diary time {i}") for i, p in enumerate(people)]


def test_a_chunk_is_handed_over_concurrently_and_each_message_once(twilio, study, settings):
    settings.SMS_SEND_THREADS = 8
    twilio.delay = 0.05  # Twilio takes 100-300 ms to answer
    messages = many_queued(study, 20)
    ids = [m.pk for m in messages]
    assert set(outbox.send_messages(ids).values()) == {"sent"}
    assert outbox.send_messages(ids) == {}  # a second run of the task claims nothing
    assert twilio.max_in_flight > 1
    assert sorted(m["body"] for m in twilio.messages) == sorted(m.body for m in messages)
    sid_of = {m["body"]: m["sid"] for m in twilio.messages}
    for m in OutboundMessage.objects.filter(pk__in=ids):
        assert (m.status, m.provider_sid, m.attempts) == ("sent", sid_of[m.body], 1)


def test_a_21610_inside_a_concurrent_chunk_opts_out_that_participant_only(twilio, study, settings):
    from diaries.models import AuditEvent

    settings.SMS_SEND_THREADS = 8
    messages = many_queued(study, 10)
    stopped = messages[3].participant
    twilio.fail_to[stopped.phone] = (400, 21610, "Attempt to send to unsubscribed recipient")
    results = outbox.send_messages([m.pk for m in messages])
    assert results.pop(messages[3].pk) == "failed" and set(results.values()) == {"sent"}
    assert len(twilio.messages) == 9 and stopped.phone not in {m["to"] for m in twilio.messages}
    assert Participant.objects.get(pk=stopped.pk).opted_out
    assert Participant.objects.filter(sms_consent="opted_out").count() == 1
    failed = OutboundMessage.objects.get(pk=messages[3].pk)
    assert (failed.status, failed.error_code) == ("failed", "21610")
    event = AuditEvent.objects.get(action="participant.sms_opted_out")
    assert (event.object_id, event.actor, event.after["source"]) == (str(stopped.pk), "system:twilio", "twilio:21610")


def test_an_invalid_number_inside_a_concurrent_chunk_alerts_and_the_rest_leave(twilio, study, settings):
    settings.SMS_SEND_THREADS = 8
    messages = many_queued(study, 6)
    twilio.fail_to[messages[0].participant.phone] = (400, 21211, "The 'To' number is not a valid phone number.")
    twilio.fail_to[messages[5].participant.phone] = (400, 21614, "'To' number is not a valid mobile number")
    results = outbox.send_messages([m.pk for m in messages])
    assert [results[m.pk] for m in messages] == ["failed", "sent", "sent", "sent", "sent", "failed"]
    assert Alert.objects.filter(kind="undeliverable").count() == 2
    assert not Participant.objects.filter(sms_consent="opted_out").exists()


def test_a_crash_in_one_send_fails_that_message_and_records_the_rest(twilio, study, settings, monkeypatch):
    settings.SMS_SEND_THREADS = 8
    messages = many_queued(study, 8)
    real = TwilioTransport.send

    def crashes_for_one(self, *, to, body, status_callback, **options):
        if to == messages[2].participant.phone:
            raise RuntimeError("connection pool is full")  # not a provider answer: it may have left
        return real(self, to=to, body=body, status_callback=status_callback, **options)

    monkeypatch.setattr(TwilioTransport, "send", crashes_for_one)
    results = outbox.send_messages([m.pk for m in messages])
    assert results.pop(messages[2].pk) == "failed" and set(results.values()) == {"sent"}
    assert len(twilio.messages) == 7
    crashed = OutboundMessage.objects.get(pk=messages[2].pk)
    assert crashed.status == "failed" and crashed.error_message.startswith("outcome unknown: RuntimeError")
    assert not OutboundMessage.objects.filter(status="sending").exists()  # nothing left in limbo
    assert outbox.send_messages([messages[2].pk]) == {}  # and it is not sent twice


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_send_tasks_for_one_chunk_at_once_send_each_message_once(twilio, study, settings):
    import threading

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite serialises whole transactions (CI runs this)")
    settings.SMS_SEND_THREADS = 8
    twilio.delay = 0.02
    ids = [m.pk for m in many_queued(study, 30)]
    barrier = threading.Barrier(2)
    results, errors = [], []

    def task():
        try:
            barrier.wait()
            results.append(outbox.send_messages(ids))
        except Exception as exc:  # reported below, never swallowed
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=task) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sum(len(r) for r in results) == 30 and set(results[0]) & set(results[1]) == set()
    assert len(twilio.messages) == 30 and len({m["to"] for m in twilio.messages}) == 30
    assert OutboundMessage.objects.filter(status="sent").count() == 30


def test_a_message_that_cannot_be_prepared_fails_alone_and_the_chunk_goes_on(twilio, study, settings):
    settings.SMS_SEND_THREADS = 8
    messages = many_queued(study, 4)
    # A number encrypted with a key since rotated away, say: it no longer decrypts.
    Participant.objects.filter(pk=messages[1].participant.pk).update(phone_encrypted=b"not a token")
    results = outbox.send_messages([m.pk for m in messages])
    assert [results[m.pk] for m in messages] == ["sent", "failed", "sent", "sent"]
    assert len(twilio.messages) == 3
    broken = OutboundMessage.objects.get(pk=messages[1].pk)
    assert broken.status == "failed" and broken.error_message.startswith("not sent:")
    assert not OutboundMessage.objects.filter(status="sending").exists()


def test_a_chunk_costs_the_same_statements_whatever_its_size_and_none_for_secrets_it_has_not(study, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.SMS_BACKEND = "locmem"
    messages = many_queued(study, 6)
    counts = []
    for chunk in (messages[:2], messages[2:]):
        with CaptureQueriesContext(connection) as queries:
            assert set(outbox.send_messages([m.pk for m in chunk]).values()) == {"sent"}
        counts.append(len(queries))
        assert not any('SET "sealed_body"' in q["sql"] for q in queries)
    assert counts[0] == counts[1]
    link = outbox.send_diary_link(participant=messages[0].participant)
    with CaptureQueriesContext(connection) as queries:
        outbox.send_messages([link.pk])
    assert len(queries) == counts[0] + 1  # the secret's readable text, emptied once handed over
    link.refresh_from_db()
    assert link.status == "sent" and link.sealed_body is None
