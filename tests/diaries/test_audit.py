"""Readable audit lines: who did what to which participant, in words; never a phone number."""

from datetime import date, datetime

import pytest

from diaries import audit, participants
from diaries.diary import correct_record
from diaries.models import AuditEvent
from tests.conftest import CHICAGO, answer

pytestmark = pytest.mark.django_db


def last(action):
    return AuditEvent.objects.filter(action=action).latest("id")


def test_a_correction_reads_old_value_to_new(alice, django_user_model):
    nurse = django_user_model.objects.create_user("nurse", is_staff=True)
    record = answer(participant=alice, instrument="ITCH_NRS", answers={1: 4},
                    at=datetime(2026, 3, 9, 20, 0, tzinfo=CHICAGO))
    assert audit.describe(last("diary.answer")) == "itch 4 (2026-03-09)"
    answer(participant=alice, instrument="ITCH_NRS", answers={1: 5}, at=datetime(2026, 3, 9, 21, 0, tzinfo=CHICAGO))
    assert audit.describe(last("diary.supersede")) == "itch 4 → 5 (2026-03-09)"
    current = record.__class__.objects.current().get(participant=alice, diary_date=date(2026, 3, 9))
    correct_record(record=current, answers={1: 6}, user=nurse, reason="patient called: meant 6")
    event = last("diary.correct")
    assert audit.describe(event, instrument="ITCH_NRS") == "itch 5 → 6"
    assert audit.who(event.actor) == "nurse"


def test_a_phone_change_never_shows_the_number(alice):
    participants.change_phone(participant=alice, phone="+13125550177", actor="user:nurse", reason="new phone")
    event = last("participant.phone")
    assert audit.describe(event) == "phone changed"
    assert "0177" not in audit.describe(event) and "77" not in audit.describe(event)


@pytest.mark.parametrize(("source", "out", "back"), [
    ("sms:keyword", "opted out by STOP", "opted back in by START"),
    ("site", "SMS paused by the site", "SMS resumed by the site"),
    ("twilio:21610", "opted out (twilio:21610)", None),
])
def test_opting_out_and_in_says_how(alice, source, out, back):
    participants.record_sms_consent(participant=alice, opted_in=False, actor=alice, source=source)
    assert audit.describe(last("participant.sms_opted_out")) == out
    if back:
        participants.record_sms_consent(participant=alice, opted_in=True, actor=alice, source=source)
        assert audit.describe(last("participant.sms_opted_in")) == back


def test_phase_visit_and_enrolment_lines(alice):
    enrolled = AuditEvent.objects.get(action="participant.enroll", object_id=str(alice.pk))
    assert audit.describe(enrolled) == "enrolled at site 101, America/Chicago, language en"
    participants.change_phase(participant=alice, phase="long_term", actor="user:nurse", reason="week 8")
    assert audit.describe(last("participant.phase")) == "phase Vehicle-controlled → Long-term"
    participants.record_visit(participant=alice, week=2, visit_date=date(2026, 3, 22), actor="user:nurse")
    participants.record_visit(participant=alice, week=2, visit_date=date(2026, 3, 23), actor="user:nurse",
                              reason="moved")
    assert audit.describe(last("visit.update")) == "week 2 visit 2026-03-22 → 2026-03-23"


def test_an_unknown_action_still_reads_its_changes():
    event = AuditEvent(action="site.update", actor="system:demo", object_type="Site", object_id="1",
                       before={"name": "Old", "zone": "UTC"}, after={"name": "New", "zone": "UTC"})
    assert audit.describe(event) == "site update: name Old → New"
    assert audit.who(event.actor) == "system (demo)"
    assert audit.who("participant:TRUE-AD-101-0001") == "participant"
