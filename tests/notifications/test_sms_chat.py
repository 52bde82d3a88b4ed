"""`manage.py sms_chat`: a full evening diary texted from the terminal, through the signed webhook."""

import io

import pytest
from django.core.management import CommandError, call_command

from diaries.models import DiaryRecord
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
