"""A coordinator reading a participant page can tell, for every text that did not arrive, why.

Each way a text fails is produced the way it happens (the fake Twilio server, its status
callbacks, the outbox, reconciliation); the site coordinator's page then shows the plain
reason of each, and the patient's phone number nowhere.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.urls import reverse

from diaries import participants, roles
from notifications import outbox
from notifications.models import OutboundMessage
from notifications.providers.twilio import pacing, reconcile
from tests.fake_twilio import signed_post
from tests.notifications.providers.twilio.conftest import TOKEN

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 11, 1, 0, tzinfo=UTC)  # 20:00 in Chicago (CDT since 8 March)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def coordinator(study, django_user_model):
    roles.setup_roles()
    user = django_user_model.objects.create_user("coordinator", "c@example.org", "pw-coordinator-1", is_staff=True)
    user.groups.add(Group.objects.get(name=roles.SITE_STAFF))
    study.sites.get(number="101").staff.add(user)
    return user


def send(participant, body, *, minute, valid_for=timedelta(hours=8), tries=1):
    with time_machine.travel(at(minute), tick=False):
        message = outbox.queue_message(participant=participant, kind="diary", body=body)
        OutboundMessage.objects.filter(pk=message.pk).update(expires_at=at(minute) + valid_for)
        for _ in range(tries):
            status = outbox.send_message(message.pk)
    return OutboundMessage.objects.get(pk=message.pk), status


def callback(client, twilio, row, status, code=None, *, minute):
    sent = next(m for m in twilio.messages if m["sid"] == row.provider_sid)
    url, params, signature = twilio.status_callback(sent, status, code, url=reverse("twilio-status", args=[row.pk]))
    with time_machine.travel(at(minute), tick=False):
        assert signed_post(client, url, params, TOKEN).status_code == 204


def test_every_text_that_did_not_arrive_says_why_on_the_participant_page(twilio, alice, client, coordinator):
    # Accepted, then undelivered for a passing reason: re-sent after its backoff, delivered.
    unreachable, _ = send(alice, "Text 1: unreachable, re-sent", minute=0)
    callback(client, twilio, unreachable, "undelivered", "30003", minute=1)
    again = OutboundMessage.objects.get(resend_of=unreachable)
    with time_machine.travel(again.not_before, tick=False):
        assert outbox.send_message(again.pk) == "sent"
    callback(client, twilio, OutboundMessage.objects.get(pk=again.pk), "delivered", minute=20)
    # Transient at the API every time: given up after the attempts.
    twilio.fail_to[alice.phone] = (400, 30008, "Unknown error")
    _, status = send(alice, "Text 2: unknown error every time", minute=21, tries=outbox.MAX_ATTEMPTS)
    assert status == "failed"
    del twilio.fail_to[alice.phone]
    # The number, the sender, the account, an unknown code: each from the status callback.
    for minute, code in enumerate(["30006", "30005", "21614", "30007", "30034", "21408", "30099"], start=30):
        row, _ = send(alice, f"Text {code}", minute=minute)
        callback(client, twilio, row, "undelivered", code, minute=minute)
    pacing.resume()
    # The sender paused: not handed over, given up after the attempts.
    for _ in range(pacing.PAUSE_AFTER):
        pacing.record_refused()
    _, status = send(alice, "Text 3: sender paused", minute=40, tries=outbox.MAX_ATTEMPTS)
    assert status == "failed"
    pacing.resume()
    # Expired at Twilio (the phone stayed off past the window), and expired before it could leave.
    expired, _ = send(alice, "Text 4: expired at Twilio", minute=41, valid_for=timedelta(hours=2))
    callback(client, twilio, expired, "failed", "30001", minute=41 + 121)
    late = outbox.queue_message(participant=alice, kind="diary", body="Text 5: expired unsent")
    OutboundMessage.objects.filter(pk=late.pk).update(expires_at=at(-1))
    with time_machine.travel(at(170), tick=False):
        assert outbox.send_message(late.pk) == "expired"
    # A worker that died mid-call.
    stranded, _ = send(alice, "Text 6: stranded", minute=171)
    OutboundMessage.objects.filter(pk=stranded.pk).update(status="sending", updated_at=at(171))
    with time_machine.travel(at(200), tick=False):
        outbox.fail_stranded_messages()
    # A text of the patient's whose webhook failed, found in Twilio's log.
    twilio.add_inbound(sender=alice.phone, body="itch 4", at=at(201))
    assert reconcile.reconcile_sms(since=at(200), until=at(230), now=at(230)).texts_reconciled == 1
    # Opted out with the carrier, then the next text cancelled before it left.
    carrier_stop, _ = send(alice, "Text 7: carrier STOP", minute=231)
    waiting = outbox.queue_message(participant=alice, kind="diary", body="Text 8: queued before the opt-out")
    callback(client, twilio, carrier_stop, "failed", "21610", minute=232)
    with time_machine.travel(at(233), tick=False):
        assert outbox.send_message(waiting.pk) == "cancelled"
    participants.record_sms_consent(participant=alice, opted_in=True, actor="system:test", source="site")

    client.force_login(coordinator)
    with time_machine.travel(at(240), tick=False):
        response = client.get(reverse("admin:diaries_participant_change", args=[alice.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    for why in [
        # re-sent, with when (the patient's local time) and how it went
        "The phone could not be reached (switched off or out of signal); re-sent</span> at 20:",
        "CDT: delivered.", "diary (re-send)",
        "The carrier reported an unknown error; not sent after 5 tries.",
        "This number is a landline or its carrier cannot take texts; call the patient to update it.",
        "This number is unknown or no longer in service; call the patient to update it.",
        "This number is not a mobile phone and cannot receive texts; call the patient to update it.",
        "The carrier filtered the text as unwanted; the study&#x27;s operator has been told.",
        "not registered with US carriers (10DLC)",
        "Texting this country is not enabled for the study&#x27;s account",
        "Twilio reported error 30099; tell the study&#x27;s operator if it repeats.",
        "Not sent: sending is paused for the whole study",
        "Not delivered in time: it waited at the provider until its window closed",
        "Not sent: its window closed before it could leave",
        "outcome unknown: the sending worker stopped during the call",
        "(found later in Twilio's log: the webhook had failed)",  # that text, in the texts received
        "1 text found later in Twilio's log",  # and how many
        "The patient blocked texts from the study with their carrier (STOP)",
        "opted out or withdrawn before sending",
    ]:
        assert why in page, why
    # Every text that did not arrive has a reason beside it: no empty "why" cell.
    rows = re.findall(r"<tr><td>[^<]*</td><td>SMS</td>.*?</tr>", page, re.S)
    not_arrived = [r for r in rows if re.search(r"<td>(Undelivered|Failed|Expired[^<]*|Cancelled[^<]*)</td>", r)]
    assert len(not_arrived) == 15
    assert all(re.search(r"<td><span[^>]*>[^<]{10,}", r) for r in not_arrived)
    # No phone number: neither the patient's in any shape, nor any other.
    digits = re.sub(r"\D", "", alice.phone)
    assert alice.phone not in page and digits[1:] not in page and "555-0111" not in page
    assert not re.search(r"\+\d{8,}", page)


def test_the_site_list_counts_the_reconciled_texts_of_its_participants(twilio, alice, bob, client, coordinator):
    twilio.add_inbound(sender=alice.phone, body="itch 4", at=at(201))
    twilio.add_inbound(sender=bob.phone, body="3", at=at(202))
    twilio.add_inbound(sender="+13125550999", body="hello", at=at(203))  # nobody's: no site
    assert reconcile.reconcile_sms(since=at(200), until=at(230), now=at(230)).texts_reconciled == 3
    client.force_login(coordinator)
    sites = client.get(reverse("admin:diaries_site_changelist")).content.decode()
    link = re.search(r'<td class="field-reconciled_texts"><a href="([^"]+)">(\d+)</a>', sites)
    assert link.group(2) == "2"  # alice and bob, both of site 101
    listed = client.get(link.group(1).replace("&amp;", "&")).content.decode()
    assert "TRUE-AD-101-0001" in listed and "TRUE-AD-101-0002" in listed and "hello" not in listed
    site_page = client.get(reverse("admin:diaries_site_change", args=[alice.site_id])).content.decode()
    assert re.search(r'reconciled=yes">2</a>', site_page)
