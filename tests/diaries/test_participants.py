"""Participants: enrollment, Day 1, consent, phone, visits; each change audited."""

from datetime import date, datetime

import pytest

from diaries import participants
from diaries.errors import ServiceError
from diaries.models import AuditEvent, Consent, Phase
from tests.conftest import CHICAGO, enroll

pytestmark = pytest.mark.django_db


def chicago(*args):
    return datetime(*args, tzinfo=CHICAGO)


def test_enrollment_encrypts_the_phone_and_audits(study):
    p = enroll(study, "S-1", phone="+13125550150", zone="America/Chicago")
    assert p.phone == "+13125550150"
    assert b"3125550150" not in bytes(p.phone_encrypted)
    event = AuditEvent.objects.get(action="participant.enroll", object_id=str(p.pk))
    assert event.site == p.site and event.after["usubjid"] == "S-1"
    assert "3125550150" not in str(event.after)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phone": "3125550150"}, "E.164"),
        ({"phone": "+1312"}, "not a valid number"),
        ({"zone": "Mars/Olympus"}, "unknown time zone"),
        ({"site": "999"}, "unknown site"),
        ({"language": "fr"}, "language"),
    ],
)
def test_enrollment_refuses_bad_input(study, kwargs, message):
    args = {"phone": "+13125550150", "zone": "America/Chicago"} | kwargs
    with pytest.raises(ServiceError, match=message):
        enroll(study, "S-1", **args)
    assert not study.participants.exists()


def test_a_phone_belongs_to_one_participant(study, alice):
    with pytest.raises(ServiceError, match="phone number cannot be used"):
        enroll(study, "S-2", phone=alice.phone, zone="America/Chicago")


def test_first_application_sets_day1_and_moves_to_vehicle_controlled(alice):
    assert alice.day1 == date(2026, 3, 8)
    assert alice.phase == Phase.VEHICLE_CONTROLLED
    with pytest.raises(ServiceError, match="reason"):
        participants.record_first_application(participant=alice, at=chicago(2026, 3, 8, 11), actor="user:x")


def test_opt_out_and_in_are_audited_and_keep_data(alice):
    participants.record_sms_consent(participant=alice, opted_in=False, actor=alice, source="sms:STOP")
    alice.refresh_from_db()
    assert alice.sms_consent == Consent.OPTED_OUT
    participants.record_sms_consent(participant=alice, opted_in=True, actor=alice, source="sms:START")
    assert [e.action for e in AuditEvent.objects.filter(action__startswith="participant.sms").order_by("at")] == [
        "participant.sms_opted_out", "participant.sms_opted_in"]


def test_visit_move_needs_a_reason(alice):
    participants.record_visit(participant=alice, week=2, visit_date=date(2026, 3, 22), actor="user:x")
    with pytest.raises(ServiceError, match="reason"):
        participants.record_visit(participant=alice, week=2, visit_date=date(2026, 3, 24), actor="user:x")
    visit = participants.record_visit(participant=alice, week=2, visit_date=date(2026, 3, 24), actor="user:x",
                                  reason="patient rescheduled")
    assert visit.visit_date == date(2026, 3, 24)
    assert AuditEvent.objects.get(action="visit.update").before["visit_date"] == "2026-03-22"


def test_change_phone_masks_numbers_in_the_audit_trail(alice):
    participants.change_phone(participant=alice, phone="+13125550177", actor="user:x", reason="new phone")
    alice.refresh_from_db()
    assert alice.phone == "+13125550177"
    event = AuditEvent.objects.get(action="participant.phone")
    assert "3125550177" not in str(event.after) and "3125550111" not in str(event.before)
