"""`manage.py sms_chat`: a full evening diary texted from the terminal, through the signed webhook."""

import html
import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from diaries.models import DiaryRecord
from diaries.protocol import sms
from notifications.models import InboundMessage

pytestmark = pytest.mark.django_db


def chat(who, lines, at="2026-03-10 20:30", **settings_changes):
    out = io.StringIO()
    call_command("sms_chat", who, at=at, stdin=io.StringIO("\n".join(lines) + "\n"), stdout=out)
    return out.getvalue()


def test_a_full_diary_with_a_wrong_answer_and_a_correction_is_recorded_as_meant(alice, settings):
    settings.TWILIO_AUTH_TOKEN = "a-token-only-this-test-knows"
    out = chat(alice.usubjid, ["7", "lots", "3 2 4 1 5 3 2 2", "4", "YES", "/quit", "never sent"])
    assert "Itch 7 saved" in out and "Please reply with one number" in out
    assert "Change it to 4? Reply YES or NO" in out and "itch is now 4" in out
    assert "recorded for 2026-03-10: ITCH_NRS 4; PROMIS_SD8B 3 2 4 1 5 3 2 2" in out
    current = DiaryRecord.objects.current().filter(participant=alice, diary_date="2026-03-10")
    assert current.get(instrument="ITCH_NRS").derived == {"itch": 4}
    assert [a["option"] for a in current.get(instrument="PROMIS_SD8B").answers] == [3, 2, 4, 1, 5, 3, 2, 2]
    assert InboundMessage.objects.filter(participant=alice).count() == 5  # through the webhook: each text stored


def test_the_phone_number_finds_the_participant_and_the_wrong_token_is_refused(alice, settings):
    settings.TWILIO_AUTH_TOKEN = "right"
    assert "Itch 6 saved" in chat(alice.phone, ["6"])
    settings.TWILIO_AUTH_TOKEN = ""  # no token: the view refuses every signature, and the command says so
    with pytest.raises(CommandError, match="403"):
        chat(alice.phone, ["6"])


def test_an_unknown_participant_and_a_bad_time_are_clear_errors(alice):
    with pytest.raises(CommandError, match="No participant"):
        chat("TRUE-AD-999-9999", [])
    with pytest.raises(CommandError, match="YYYY-MM-DD HH:MM"):
        chat(alice.usubjid, [], at="tonight")


def test_a_wrong_answer_a_refused_and_an_accepted_correction_leave_what_was_meant(alice, settings, admin_client):
    """The issue's "Done when": itch 8 by mistake, 6 meant; NO to the first "Change it?", YES to the second.

    The terminal shows the conversation only (no log lines), every reply is one SMS, and
    the records, the inbound rows and the participant page say itch 6.
    """
    settings.TWILIO_AUTH_TOKEN = "a-token-only-this-test-knows"
    out = chat(alice.usubjid, ["8", "3 2 4 1 5 3 2 2", "6", "NO", "6", "YES"], at="2026-03-10 21:30")
    replies = [line.removeprefix("bot> ") for line in out.splitlines() if line.startswith("bot> ")]
    assert len(replies) == 6 and all(sms.segments(r) == 1 for r in replies), replies
    assert "Itch 8 saved" in replies[0] and "itch 8; sleep 3 2 4 1 5 3 2 2" in replies[1]
    assert replies[2] == "You already sent itch 8 for Tue 10 Mar. Change it to 6? Reply YES or NO."
    assert replies[3] == "OK, nothing changed for Tue 10 Mar."
    assert replies[5] == "Changed: itch is now 6 for Tue 10 Mar. Thank you!"
    shown = ("Texting as", "Pretending it is", "(log: ", "bot> ", "     [", "     recorded for")
    assert all(line.startswith(shown) for line in out.splitlines()), out  # no log line leaks in
    assert out.rstrip().endswith("recorded for 2026-03-10: ITCH_NRS 6; PROMIS_SD8B 3 2 4 1 5 3 2 2")
    outcomes = list(InboundMessage.objects.filter(participant=alice).order_by("received_at")
                    .values_list("outcome", flat=True))
    assert outcomes == ["recorded", "recorded", "confirm_asked", "kept", "confirm_asked", "corrected"]
    itch = DiaryRecord.objects.current().get(participant=alice, diary_date="2026-03-10", instrument="ITCH_NRS")
    assert itch.derived == {"itch": 6}
    page = admin_client.get(reverse("admin:diaries_participant_change", args=[alice.pk])).content.decode()
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert "Last diary Tue 10 Mar: itch 6 (SMS)" in words
    assert "ITCH_NRS DAILY 8 SMS 2026-03-11 02:30 superseded" in words
    assert "ITCH_NRS DAILY 6 SMS 2026-03-11 02:30 current" in words
    assert "kept (NO)" in words and "corrected (after YES)" in words
