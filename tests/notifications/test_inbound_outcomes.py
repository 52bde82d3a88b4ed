"""Every inbound row says what the text came to, and the participant page shows it in words."""

from datetime import datetime, timedelta

import pytest

from diaries.models import DiaryRecord
from notifications.inbound import Inbound, receive_sms
from notifications.models import InboundMessage
from tests.conftest import CHICAGO

pytestmark = pytest.mark.django_db
EVENING = datetime(2026, 3, 10, 20, 0, tzinfo=CHICAGO)


def texts(participant, bodies, start=EVENING):
    replies = []
    for n, body in enumerate(bodies):
        inbound = Inbound.received(message_sid=f"SMo{start:%H%M}{n:03d}", sender=participant.phone, body=body,
                                   num_media=0)
        replies.append(receive_sms(inbound=inbound, now=start + timedelta(minutes=n)))
    return replies


def outcomes(participant):
    return list(InboundMessage.objects.filter(participant=participant).order_by("received_at")
                .values_list("outcome", flat=True))


def current_itch(participant):
    record = DiaryRecord.objects.current().get(participant=participant, diary_date="2026-03-10",
                                               instrument="ITCH_NRS")
    return record.derived["itch"]


def test_outcomes_say_what_happened_and_only_yes_changes_the_score(alice):
    replies = texts(alice, ["6", "3 2 4 1 5 3 2 2", "4", "no", "4", "YES", "4", "thanks"])
    assert "Change it to 4?" in replies[2]
    assert outcomes(alice) == [
        "recorded", "recorded", "confirm_asked", "kept", "confirm_asked", "corrected", "repeat", "no_reply:courtesy",
    ]
    assert current_itch(alice) == 4


def test_the_limit_is_a_logged_reason_and_the_page_shows_it(admin_client, alice):
    texts(alice, ["7"] + ["I'm driving"] * 7)
    assert outcomes(alice)[-1] == "no_reply:daily_limit"
    assert InboundMessage.objects.filter(participant=alice, reply="").exclude(outcome__startswith="no_reply") \
        .count() == 0
    body = admin_client.get(f"/admin/diaries/participant/{alice.pk}/change/").content.decode()
    assert "no reply: daily limit" in body and "confirmation asked" not in body


@pytest.mark.parametrize("body, words", [
    ("HELP", ("Contact your clinic", "contacte con su clínica")),
    ("ayuda", ("Contact your clinic", "contacte con su clínica")),
    ("STOP", ("No more messages", "No recibirá más mensajes")),
    ("baja", ("No more messages", "No recibirá más mensajes")),
])
def test_an_unknown_sender_gets_help_and_stop_in_english_and_spanish(study, body, words):
    inbound = Inbound.received(message_sid="SMunknown1", sender="+13125550777", body=body, num_media=0)
    reply = receive_sms(inbound=inbound, now=EVENING)
    for word in words:
        assert word in reply
    assert "Skin" not in reply and "Lakeside" not in reply  # neutral: no study or clinic named
