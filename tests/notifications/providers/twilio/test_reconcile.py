"""Reconciliation: the texts and statuses our webhooks missed, read back from Twilio's message log."""

import threading
from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command

from diaries.models import DiaryRecord
from notifications import outbox, tasks
from notifications.inbound import Inbound, receive_sms
from notifications.models import DeliveryStatus, InboundMessage, OutboundMessage, ReconciledText
from notifications.providers.twilio import reconcile
from notifications.providers.twilio.transport import TwilioTransport
from tests.conftest import CHICAGO
from tests.fake_twilio import inbound_params, signed_post
from tests.notifications.providers.twilio.conftest import TOKEN

pytestmark = pytest.mark.django_db

PROMIS = "3 2 4 1 5 3 2 2"


def at(hour, minute, day=10):
    return datetime(2026, 3, day, hour, minute, tzinfo=CHICAGO)


def run(*, since, now):
    with time_machine.travel(now, tick=False):
        return reconcile.reconcile_sms(since=since, now=now)


def diary(participant, diary_date="2026-03-10"):
    records = DiaryRecord.objects.current().filter(participant=participant, diary_date=diary_date)
    return {r.instrument: r for r in records}


def test_texts_missed_during_an_outage_count_for_the_evening_they_were_sent_in_twilios_order(twilio, alice,
                                                                                             monkeypatch):
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)  # several pages of the log
    twilio.add_inbound(sender=alice.phone, body="itch 7", at=at(21, 50))
    twilio.add_inbound(sender=alice.phone, body=PROMIS, at=at(21, 52))
    twilio.add_inbound(sender="+13125550888", body="wrong number", at=at(21, 53))
    result = run(since=at(21, 0), now=at(22, 30))
    assert (result.texts_reconciled, result.texts_known) == (3, 0)
    assert len(twilio.list_requests) == 2  # paged with next_page_uri
    records = diary(alice)
    assert records["ITCH_NRS"].derived == {"itch": 7}  # "itch 7" was read first, as sent
    assert [a["option"] for a in records["PROMIS_SD8B"].answers] == [3, 2, 4, 1, 5, 3, 2, 2]
    received = InboundMessage.objects.filter(participant=alice).order_by("received_at")
    assert [m.received_at for m in received] == [at(21, 50), at(21, 52)]  # Twilio's DateSent
    assert ReconciledText.objects.count() == 3
    # Forty minutes on, the conversation has been silent: "saved" would be noise, so no text.
    assert not OutboundMessage.objects.exists() and result.replies_sent == 0


def test_running_it_twice_changes_nothing_more(twilio, alice):
    twilio.add_inbound(sender=alice.phone, body="itch 7", at=at(21, 50))
    run(since=at(21, 0), now=at(22, 30))
    counts = (InboundMessage.objects.count(), DiaryRecord.objects.count(), ReconciledText.objects.count())
    again = run(since=at(21, 0), now=at(23, 30))
    assert (again.texts_reconciled, again.texts_known) == (0, 1)
    assert (InboundMessage.objects.count(), DiaryRecord.objects.count(), ReconciledText.objects.count()) == counts


def test_texts_arriving_while_the_log_is_read_list_no_text_twice(twilio, alice, monkeypatch):
    """Twilio pages its log with a token, not an offset: a text logged between two pages moves nothing."""
    monkeypatch.setattr(reconcile, "PAGE_SIZE", 2)
    for i in range(5):
        twilio.add_inbound(sender=alice.phone, body=f"itch {i}", at=at(21, 40 + i))
    read = twilio._list

    def new_text_after_the_first_page(path, authorization):
        answer = read(path, authorization)
        if len(twilio.list_requests) == 1:
            twilio.add_inbound(sender=alice.phone, body="itch 9", at=at(21, 46))
        return answer

    monkeypatch.setattr(twilio, "_list", new_text_after_the_first_page)
    result = run(since=at(21, 0), now=at(22, 30))
    assert (result.listed, result.texts_reconciled) == (5, 5)  # the newest waits for the next run
    assert ReconciledText.objects.count() == InboundMessage.objects.count() == 5


def test_a_text_two_reconciliations_reach_at_once_is_recorded_once(twilio, alice):
    """The hourly task beside the command: the second finds the text done and changes nothing."""
    missed = twilio.add_inbound(sender=alice.phone, body="itch 7", at=at(21, 50))
    listed = [m for m in TwilioTransport().client.messages.stream(page_size=50) if m.sid == missed["sid"]]
    with time_machine.travel(at(22, 30), tick=False):
        first = reconcile.reconcile_text(listed[0], now=at(22, 30))
        second = reconcile.reconcile_text(listed[0], now=at(22, 30))
    assert (first, second) == ((True, False), (False, False))
    assert ReconciledText.objects.count() == InboundMessage.objects.count() == DiaryRecord.objects.count() == 1


def test_texts_the_webhook_did_deliver_are_left_alone_and_a_late_webhook_repeats_nothing(twilio, alice, client):
    live = twilio.add_inbound(sender=alice.phone, body="itch 7", at=at(21, 50))
    with time_machine.travel(at(21, 50), tick=False):  # this one's webhook arrived
        signed_post(client, "/sms/twilio/inbound/",
                    inbound_params(sender=alice.phone, body="itch 7", sid=live["sid"]), TOKEN)
    missed = twilio.add_inbound(sender=alice.phone, body=PROMIS, at=at(21, 52))
    result = run(since=at(21, 0), now=at(22, 30))
    assert (result.texts_reconciled, result.texts_known) == (1, 1)
    assert ReconciledText.objects.get().inbound.message_sid == missed["sid"]
    # Twilio's one retry of the missed webhook arrives after all: the first reply, nothing new.
    with time_machine.travel(at(22, 31), tick=False):
        signed_post(client, "/sms/twilio/inbound/",
                    inbound_params(sender=alice.phone, body=PROMIS, sid=missed["sid"]), TOKEN)
    assert InboundMessage.objects.count() == 2 and DiaryRecord.objects.count() == 2


def test_a_text_sent_inside_the_window_counts_though_the_window_closed_before_the_outage_ended(twilio, alice):
    twilio.add_inbound(sender=alice.phone, body="itch 6", at=at(2, 55, day=11))  # the window closes at 03:00
    twilio.add_inbound(sender=alice.phone, body="itch 2", at=at(3, 5, day=11))  # too late, even if sent
    run(since=at(2, 0, day=11), now=at(3, 30, day=11))
    assert diary(alice)["ITCH_NRS"].derived == {"itch": 6}
    assert DiaryRecord.objects.filter(instrument="ITCH_NRS").count() == 1


def test_a_recent_text_that_is_still_the_last_word_gets_its_reply(twilio, alice):
    twilio.add_inbound(sender=alice.phone, body="itch 7", at=at(21, 50))
    result = run(since=at(21, 0), now=at(21, 55))
    assert result.replies_sent == 1
    reply = OutboundMessage.objects.get()
    assert reply.kind == "reply" and "7" in reply.body
    assert ReconciledText.objects.get().replied


def test_missed_status_callbacks_are_recorded_from_the_log(twilio, alice):
    with time_machine.travel(at(19, 0), tick=False):
        message = outbox.queue_message(participant=alice, kind="diary", body="Diary time")
        outbox.send_message(message.pk)
    twilio.set_status(twilio.messages[0], "undelivered", "30005")
    twilio.clock = lambda: at(19, 0)
    result = run(since=at(18, 0), now=at(20, 0))
    assert result.statuses_recorded == 1
    row = OutboundMessage.objects.get()
    assert row.status == "undelivered" and "no longer in service" in row.error_message
    assert DeliveryStatus.objects.get().reconciled
    assert run(since=at(18, 0), now=at(20, 5)).statuses_recorded == 0


def test_the_command_and_the_hourly_task(twilio, alice, capsys):
    twilio.add_inbound(sender=alice.phone, body="itch 7", at=at(21, 50))
    with time_machine.travel(at(22, 30), tick=False):
        call_command("reconcile_sms", "--since", "2h")
    assert "texts reconciled 1" in capsys.readouterr().out
    with time_machine.travel(at(22, 40), tick=False):
        assert tasks.reconcile_sms() == 0  # already done
    assert (at(22, 30) - timedelta(hours=2)) < at(21, 50)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reconciling_while_the_same_texts_arrive_by_webhook_records_each_once(twilio, alice):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("row locks serialise only on PostgreSQL; SQLite serialises whole transactions (CI runs this)")
    texts = [twilio.add_inbound(sender=alice.phone, body=f"itch {i}", at=at(21, 40 + i)) for i in range(5)]
    barrier = threading.Barrier(2)

    def webhooks():
        barrier.wait()
        try:
            for message in texts:
                receive_sms(inbound=Inbound.received(message_sid=message["sid"], sender=alice.phone,
                                                     body=message["body"], num_media=0), now=at(21, 46))
        finally:
            connection.close()

    live = threading.Thread(target=webhooks)
    live.start()
    barrier.wait()
    result = reconcile.reconcile_sms(since=at(21, 0), now=at(22, 30))
    live.join(30)
    assert result.texts_reconciled + result.texts_known == 5
    assert InboundMessage.objects.count() == 5
    assert ReconciledText.objects.count() == result.texts_reconciled
    assert all(r.inbound.received_at == at(21, 40 + int(r.inbound.body[-1])) for r in ReconciledText.objects.all())
    assert DiaryRecord.objects.current().filter(instrument="ITCH_NRS").count() == 1  # one itch for the evening
