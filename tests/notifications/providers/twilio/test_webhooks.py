"""Twilio webhooks: signatures, idempotency on MessageSid, the conversation end to end, status callbacks."""

from datetime import datetime

import pytest
import time_machine
from django.urls import reverse

from diaries.models import Alert, DiaryRecord, Participant
from notifications import outbox
from notifications.models import InboundMessage, OutboundMessage
from notifications.providers import locmem
from tests.conftest import CHICAGO, WARSAW
from tests.fake_twilio import message_sid, signed_post

pytestmark = pytest.mark.django_db
TOKEN = "test-auth-token"
INBOUND = "/sms/twilio/inbound/"


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    locmem.outbox.clear()


def params(sender, body, sid="SM0001", **extra):
    sid = message_sid(sid)
    base = {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": "AC" + "1" * 32,
        "MessagingServiceSid": "MG" + "2" * 32,
        "From": sender,
        "To": "+13125550999",
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "FromCountry": "US",
        "FromState": "IL",
        "FromCity": "CHICAGO",
        "FromZip": "60601",
        "SmsStatus": "received",
        "ApiVersion": "2010-04-01",
        "SomeParameterTwilioAddsLater": "x",
    }
    return base | extra


def text(client, sender, body, sid, **extra):
    response = signed_post(client, INBOUND, params(sender, body, sid, **extra), TOKEN)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/xml")
    return response.content.decode()


@pytest.mark.parametrize(
    ("signature", "expected"),
    [("valid", 200), ("invalid", 403), ("missing", 403), ("other-url", 403)],
)
def test_inbound_signature(client, alice, signature, expected, settings):
    body = params(alice.phone, "HELP")
    sig = {"valid": None, "invalid": "bm90IGEgc2lnbmF0dXJl", "missing": ""}.get(signature)
    if signature == "other-url":
        from twilio.request_validator import RequestValidator

        sig = RequestValidator(TOKEN).compute_signature("https://attacker.example" + INBOUND, body)
    response = signed_post(client, INBOUND, body, TOKEN, signature=sig)
    assert response.status_code == expected
    assert InboundMessage.objects.count() == (1 if expected == 200 else 0)


def test_signature_covers_repeated_parameters(client, alice):
    from urllib.parse import urlencode

    from django.http import QueryDict
    from twilio.request_validator import RequestValidator

    body = urlencode(list(params(alice.phone, "HELP").items()) + [("MediaUrl0", "a"), ("MediaUrl0", "b")])
    sig = RequestValidator(TOKEN).compute_signature("https://eprp.test" + INBOUND, QueryDict(body))
    ok = client.post(INBOUND, data=body, content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=sig)
    assert ok.status_code == 200
    dropped = urlencode(list(params(alice.phone, "HELP", sid="SM9").items()) + [("MediaUrl0", "a")])
    bad = client.post(
        INBOUND, data=dropped, content_type="application/x-www-form-urlencoded", HTTP_X_TWILIO_SIGNATURE=sig
    )
    assert bad.status_code == 403


def test_invalid_signature_logs_without_the_body(client, alice, caplog):
    signed_post(client, INBOUND, params(alice.phone, "my secret itch 9"), TOKEN, signature="AAAA")
    assert "refused" in caplog.text and "secret" not in caplog.text


@time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False)
def test_duplicate_message_sid_returns_the_first_reply_and_records_once(client, alice):
    first = text(client, alice.phone, "7", "SMdup")
    again = text(client, alice.phone, "7", "SMdup")
    assert first == again
    assert InboundMessage.objects.count() == 1
    assert DiaryRecord.objects.filter(participant=alice).count() == 1


@time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False)
def test_a_repeat_after_the_conversation_moved_on_changes_nothing(client, alice):
    from diaries.models import AuditEvent
    from notifications.models import Conversation

    text(client, alice.phone, "7", "SMa")
    first = text(client, alice.phone, "3", "SMb")  # PROMIS item 1
    text(client, alice.phone, "2", "SMc")  # item 2: the conversation is at item 3 now
    state = Conversation.objects.get(participant=alice).state
    counts = (DiaryRecord.objects.count(), AuditEvent.objects.count(), InboundMessage.objects.count())
    # Twilio repeats SMb: read against today's state it would be an answer to item 3.
    assert text(client, alice.phone, "3", "SMb") == first
    assert (DiaryRecord.objects.count(), AuditEvent.objects.count(), InboundMessage.objects.count()) == counts
    assert Conversation.objects.get(participant=alice).state == state
    promis = DiaryRecord.objects.current().get(participant=alice, instrument="PROMIS_SD8B")
    assert [a["option"] for a in promis.answers] == [3, 2]


@time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False)
def test_evening_diary_by_sms_records_itch_and_promis(client, alice):
    reply = text(client, alice.phone, "itch 7", "SM1")
    assert "7" in reply
    reply = text(client, alice.phone, "3 2 4 1 5 3 2 2", "SM2")
    records = DiaryRecord.objects.current().filter(participant=alice, diary_date="2026-03-10")
    itch = records.get(instrument="ITCH_NRS")
    promis = records.get(instrument="PROMIS_SD8B")
    assert itch.derived == {"itch": 7} and itch.channel == "sms"
    assert [a["option"] for a in promis.answers] == [3, 2, 4, 1, 5, 3, 2, 2]
    assert [a["score"] for a in promis.answers] == [3, 4, 2, 1, 5, 3, 4, 4]  # items 2, 3, 7, 8 reversed
    assert "Tue 10 Mar" in reply or "10" in reply


def test_outside_the_window_nothing_is_stored(client, alice):
    with time_machine.travel(datetime(2026, 3, 10, 11, 0, tzinfo=CHICAGO), tick=False):
        reply = text(client, alice.phone, "7", "SM1")
    assert "5:00 PM" in reply or "17:00" in reply
    assert not DiaryRecord.objects.exists()
    assert InboundMessage.objects.get().outcome


@time_machine.travel(datetime(2026, 3, 25, 20, 0, tzinfo=WARSAW), tick=False)
def test_whatsapp_sender_works_like_sms_in_spanish(client, bob):
    reply = text(client, f"whatsapp:{bob.phone}", "siete", "SMw1")
    assert DiaryRecord.objects.get(participant=bob).derived == {"itch": 7}
    assert InboundMessage.objects.get().channel == "whatsapp"
    assert "7" in reply


def test_unknown_sender_gets_a_neutral_reply_and_the_site_an_alert(client, study):
    reply = text(client, "+13125550888", "7", "SMunk")
    assert "Sorry" in reply
    for word in ("study", "diary", "itch", "Lakeside", "TRUE"):
        assert word not in reply
    msg = InboundMessage.objects.get()
    assert msg.participant is None and "3125550888" not in msg.sender_masked
    assert Alert.objects.get().kind == "unknown_sender"


def test_stop_opts_out_at_once_and_nothing_is_sent_afterwards(client, alice):

    reply = text(client, alice.phone, "stop", "SMstop")
    assert "START" in reply
    alice.refresh_from_db()
    assert alice.opted_out
    assert Alert.objects.filter(kind="opted_out", participant=alice).exists()
    assert outbox.queue_message(participant=alice, kind="diary", body="hi") is None
    assert text(client, alice.phone, "7", "SMafter") in ('<?xml version="1.0" encoding="UTF-8"?><Response />',)
    text(client, alice.phone, "START", "SMstart")
    alice.refresh_from_db()
    assert not alice.opted_out


def test_media_message_gets_a_text_only_reply(client, alice):
    reply = text(
        client,
        alice.phone,
        "",
        "SMmedia",
        NumMedia="1",
        MediaUrl0="https://api.twilio.com/x.jpg",
        MediaContentType0="image/jpeg",
    )
    assert "text" in reply.lower()


@pytest.mark.parametrize("body", ["😀😀😀", "x" * 10_000, "\x00\x07\x1b[31m7", "", "   ", "<Response>&amp;"])
@time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False)
def test_odd_bodies_never_break_the_webhook(client, alice, body):
    response = signed_post(client, INBOUND, params(alice.phone, body, "SModd"), TOKEN)
    assert response.status_code == 200
    assert len(InboundMessage.objects.get().body) <= 1600


def test_missing_message_sid_is_a_bad_request(client, alice):
    body = params(alice.phone, "7")
    del body["MessageSid"]
    assert signed_post(client, INBOUND, body, TOKEN).status_code == 400


def test_status_callback_moves_forward_only(client, alice):

    message = outbox.queue_message(participant=alice, kind="diary", body="hello")
    outbox.send_message(message.pk)
    url = reverse("twilio-status", args=[message.pk])
    sid = OutboundMessage.objects.get().provider_sid

    def callback(status, code=None, signature=None):
        body = {"MessageSid": sid, "MessageStatus": status} | ({"ErrorCode": code} if code else {})
        return signed_post(client, url, body, TOKEN, signature=signature)

    assert callback("delivered").status_code == 204
    assert callback("sent").status_code == 204  # late "sent" after "delivered": ignored
    assert OutboundMessage.objects.get().status == "delivered"
    assert callback("delivered", signature="AAAA").status_code == 403
    assert callback("delivered", signature="").status_code == 403


def test_status_callback_21610_opts_the_participant_out(client, alice):

    message = outbox.queue_message(participant=alice, kind="diary", body="hello")
    outbox.send_message(message.pk)
    url = reverse("twilio-status", args=[message.pk])
    signed_post(client, url, {"MessageSid": "SMx", "MessageStatus": "failed", "ErrorCode": "21610"}, TOKEN)
    assert Participant.objects.get(pk=alice.pk).opted_out


def test_a_second_clear_keeps_the_first_stop_day_and_a_late_clear_needs_no_cream(client, alice):
    from diaries import participants
    from diaries.models import TreatmentEvent

    participants.change_phase(participant=alice, phase="long_term", actor="system:test")
    with time_machine.travel(datetime(2026, 5, 12, 18, 0, tzinfo=CHICAGO), tick=False):  # Tuesday
        assert "until Fri 15 May" in text(client, alice.phone, "CLEAR", "SMc1")
    with time_machine.travel(datetime(2026, 5, 13, 18, 0, tzinfo=CHICAGO), tick=False):
        assert "until Fri 15 May" in text(client, alice.phone, "clear", "SMc2")  # not Sat 16 May
    with time_machine.travel(datetime(2026, 5, 19, 18, 0, tzinfo=CHICAGO), tick=False):
        assert "still clear" in text(client, alice.phone, "CLEAR", "SMc3")
    with time_machine.travel(datetime(2026, 5, 19, 19, 0, tzinfo=CHICAGO), tick=False):
        assert "resume applying" in text(client, alice.phone, "FLARE", "SMc4")
        text(client, alice.phone, "NO", "SMc5")
    with time_machine.travel(datetime(2026, 5, 20, 18, 0, tzinfo=CHICAGO), tick=False):
        assert "until Sat 23 May" in text(client, alice.phone, "CLEAR", "SMc6")  # a new cycle
    assert TreatmentEvent.objects.filter(participant=alice, kind="cleared").count() == 4  # every report is kept


@time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False)
def test_a_diary_answer_by_text_costs_a_fixed_number_of_statements(client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    text(client, alice.phone, "7", "SMq1")
    text(client, alice.phone, "3", "SMq2")  # conversation and records exist: the steady state
    with CaptureQueriesContext(connection) as queries:
        text(client, alice.phone, "2", "SMq3")
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    # The lock (conversation and participant), the evening's records, the record, its audit event,
    # the conversation state and the inbound row; around them the transaction (a savepoint here).
    assert statements.count("SELECT") == 2 and statements.count("INSERT") == 3 and statements.count("UPDATE") == 1
    assert len([s for s in statements if s not in ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")]) == 6


@time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False)
def test_a_first_text_before_any_prompt_makes_the_conversation_in_one_insert(client, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.models import Conversation

    assert not Conversation.objects.filter(participant=alice).exists()
    with CaptureQueriesContext(connection) as queries:
        assert "1/8" in text(client, alice.phone, "7", "SMf1")
    on_conversations = [q["sql"].split()[0].upper() for q in queries.captured_queries
                        if '"notifications_conversation"' in q["sql"]]
    # Not found, made (INSERT, nothing if a concurrent text made it first), read under the lock, state saved.
    assert on_conversations == ["SELECT", "INSERT", "SELECT", "UPDATE"]
    assert Conversation.objects.get(participant=alice).state["itch"] == 7
    assert DiaryRecord.objects.filter(participant=alice).count() == 1
