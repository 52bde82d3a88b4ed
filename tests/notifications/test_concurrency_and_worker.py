"""Two texts at once from one phone, on PostgreSQL; and the outbox through a real Celery worker."""

import threading
import time
from datetime import datetime

import pytest
import time_machine
from django.db import connection, connections

from diaries.models import DiaryRecord
from notifications import outbox
from notifications.models import InboundMessage, OutboundMessage
from notifications.providers import locmem
from tests.conftest import CHICAGO
from tests.fake_twilio import signed_post

TOKEN = "test-auth-token"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_texts_from_one_phone_at_once_are_handled_one_after_the_other(alice, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks serialise only on PostgreSQL; SQLite serialises whole transactions (CI runs this)")
    from django.test import Client

    settings.TWILIO_AUTH_TOKEN = TOKEN
    barrier = threading.Barrier(2)
    replies = {}

    def send(sid, body):
        try:
            client = Client()
            barrier.wait()
            with time_machine.travel(datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO), tick=False):
                response = signed_post(client, "/sms/twilio/inbound/", {
                    "MessageSid": sid, "From": alice.phone, "To": "+13125550999", "Body": body, "NumMedia": "0"},
                    TOKEN)
            replies[sid] = (response.status_code, response.content.decode())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(f"SMc{i}", str(7 + i))) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [code for code, _ in replies.values()] == [200, 200]
    assert InboundMessage.objects.count() == 2
    # One of them answered the itch question; the other arrived at the first sleep question,
    # where 7 or 8 is out of range: never a second itch record racing the first.
    itch = DiaryRecord.objects.filter(participant=alice, instrument="ITCH_NRS")
    assert itch.count() == 1
    assert not DiaryRecord.objects.filter(participant=alice, instrument="PROMIS_SD8B").exists()
    bodies = sorted(body for _, body in replies.values())
    assert sum("saved" in b.lower() for b in bodies) == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_queued_message_is_sent_by_a_real_worker_after_commit(alice, celery_worker):
    locmem.outbox.clear()
    message = outbox.queue_message(participant=alice, kind="diary", body="Diary time")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message.refresh_from_db()
        if message.status == "sent":
            break
        time.sleep(0.1)
    assert message.status == "sent"
    assert [m["body"] for m in locmem.outbox] == ["Diary time"]
    assert OutboundMessage.objects.get().provider_sid == locmem.outbox[0]["sid"]
