"""Row locks on PostgreSQL: one participant's writes never make another participant wait."""

import threading
from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.test import Client

from diaries.models import DiaryRecord
from notifications.models import InboundMessage
from tests.conftest import answer
from tests.fake_twilio import signed_post

TOKEN = "test-auth-token"
# 23:30 in Warsaw, 17:30 in Chicago: both diaries are open.
BOTH_EVENINGS = datetime(2026, 3, 21, 22, 30, tzinfo=UTC)


def _web_itch(participant, score):
    answer(participant=participant, instrument="ITCH_NRS", answers={1: score}, channel="web")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_diary_being_saved_does_not_hold_up_another_participant_of_the_study(alice, bob, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises whole transactions (CI runs this)")
    settings.TWILIO_AUTH_TOKEN = TOKEN
    saving, release = threading.Event(), threading.Event()
    errors = []

    def alice_saves_slowly():
        try:
            with time_machine.travel(BOTH_EVENINGS, tick=False), transaction.atomic():
                _web_itch(alice, 6)
                saving.set()
                release.wait(30)  # her transaction stays open, holding her locks
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            saving.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=alice_saves_slowly)
    thread.start()
    try:
        assert saving.wait(30)
        with time_machine.travel(BOTH_EVENINGS, tick=False):
            # Meanwhile Bob, same study and site, saves on the web and texts: neither waits
            # for Alice's transaction (locking the study or site row would make both wait,
            # and deadlock with the foreign-key checks other commits take on the study row).
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                _web_itch(bob, 4)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                response = signed_post(Client(), "/sms/twilio/inbound/", {
                    "MessageSid": "SMrowlock1", "From": bob.phone, "To": "+13125550999", "Body": "CHANGE",
                    "NumMedia": "0"}, TOKEN)
            assert response.status_code == 200
    finally:
        release.set()
        thread.join(30)
    assert not errors
    assert set(DiaryRecord.objects.filter(instrument="ITCH_NRS").values_list("participant__usubjid", "channel")) == {
        (alice.usubjid, "web"), (bob.usubjid, "web")}
    assert InboundMessage.objects.filter(participant=bob).count() == 1
