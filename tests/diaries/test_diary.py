"""submit_diary and corrections: the window, supersede and repeat, refusals audited once, append-only."""

from datetime import date, datetime, timedelta

import pytest

from diaries import diary, participants
from diaries.diary import Recorded, Refused, submit_diary
from diaries.errors import ServiceError
from diaries.models import AuditEvent, DiaryRecord
from tests.conftest import CHICAGO, WARSAW, answer

pytestmark = pytest.mark.django_db


def chicago(*args):
    return datetime(*args, tzinfo=CHICAGO)


def test_answer_in_the_window_gets_the_evening_diary_date(alice):
    record = answer(participant=alice, instrument="ITCH_NRS", answers={1: 7}, channel="sms",
                                     at=chicago(2026, 3, 9, 1, 30))
    assert record.diary_date == date(2026, 3, 8)
    assert record.answers == [{"item": 1, "option": 7, "score": 7, "label": "7"}]
    assert AuditEvent.objects.filter(action="diary.answer", object_id=str(record.pk)).count() == 1


def submit(participant, answers, at, *, channel="sms", timepoint="DAILY", partial=True):
    return submit_diary(participant=participant, channel=channel, timepoint=timepoint, answers=answers, at=at,
                        partial=partial)


def test_answer_outside_the_window_is_refused_and_nothing_is_stored(alice):
    refused = submit(alice, {"ITCH_NRS": {1: 7}}, chicago(2026, 3, 9, 12, 0))
    assert isinstance(refused, Refused) and refused.reason == "outside_window"
    assert refused.next_opens_at == chicago(2026, 3, 9, 17, 0)
    assert not DiaryRecord.objects.exists()
    event = AuditEvent.objects.get(action="diary.refused")
    assert event.after == {"channel": "sms", "timepoint": "DAILY", "reason": "outside_window",
                           "message": refused.message, "next_opens_at": "2026-03-09T22:00:00+00:00",
                           "answers": {"ITCH_NRS": {"1": 7}}}


def test_a_diary_is_recorded_whole_or_not_at_all(alice):
    refused = submit(alice, {"ITCH_NRS": {1: 7}, "PROMIS_SD8B": {1: 9}}, chicago(2026, 3, 9, 19, 0))
    assert isinstance(refused, Refused) and refused.reason == "invalid_answer"
    assert [(p.instrument, p.field, p.code) for p in refused.problems] == [("PROMIS_SD8B", "answers.1", "out_of_range")]
    assert not DiaryRecord.objects.exists()
    incomplete = submit(alice, {"ITCH_NRS": {1: 7}, "PROMIS_SD8B": {1: 3}}, chicago(2026, 3, 9, 19, 0),
                        partial=False)
    assert [p.field for p in incomplete.problems] == [f"answers.{n}" for n in range(2, 9)]
    assert AuditEvent.objects.filter(action="diary.refused").count() == 2 and not DiaryRecord.objects.exists()


def test_the_same_answers_again_are_a_repeat_not_a_correction(alice):
    answers = {"ITCH_NRS": {1: 7}, "PROMIS_SD8B": {n: 3 for n in range(1, 9)}}
    first = submit(alice, answers, chicago(2026, 3, 9, 19, 0), channel="web", partial=False)
    again = submit(alice, answers, chicago(2026, 3, 9, 19, 5), channel="web", partial=False)
    assert isinstance(again, Recorded) and again.repeat and not again.corrected
    assert again.records == first.records and DiaryRecord.objects.count() == 2
    assert not AuditEvent.objects.filter(action="diary.supersede").exists()
    changed = submit(alice, {**answers, "ITCH_NRS": {1: 6}}, chicago(2026, 3, 9, 19, 10), channel="web",
                     partial=False)
    assert changed.corrected and [r.instrument for r in changed.written] == ["ITCH_NRS"]
    assert AuditEvent.objects.filter(action="diary.supersede").count() == 1


def test_correction_in_the_window_supersedes_and_keeps_the_original(alice):
    first = answer(participant=alice, instrument="ITCH_NRS", answers={1: 7}, channel="sms",
                                    at=chicago(2026, 3, 9, 19, 0))
    second = answer(participant=alice, instrument="ITCH_NRS", answers={1: 5}, channel="web",
                                     at=chicago(2026, 3, 9, 19, 5))
    assert second.supersedes == first
    assert DiaryRecord.objects.count() == 2
    current = DiaryRecord.objects.current().get(participant=alice)
    assert current == second and current.derived == {"itch": 5}
    assert AuditEvent.objects.get(action="diary.supersede").before["answers"][0]["option"] == 7


def test_promis_answered_one_by_one_merges_into_one_current_record(alice):
    for item in range(1, 6):
        answer(participant=alice, instrument="PROMIS_SD8B", answers={item: 2}, channel="sms",
                                at=chicago(2026, 3, 9, 20, item))
    current = DiaryRecord.objects.current().get(participant=alice, instrument="PROMIS_SD8B")
    assert [a["item"] for a in current.answers] == [1, 2, 3, 4, 5]
    # Items 2 and 3 are reverse-scored: option 2 scores 4.
    assert [a["score"] for a in current.answers] == [2, 4, 4, 2, 2]
    # Five items prorated: round(14 * 8 / 5) = 22, T-score 52.2 (ENDPOINTS.md section 2).
    assert current.derived == {"answered": 5, "sum": 14, "raw": 22, "t_score": 52.2}
    three = DiaryRecord.objects.filter(participant=alice, instrument="PROMIS_SD8B").order_by("submitted_at")[2]
    assert three.derived == {"answered": 3, "sum": 10, "raw": None, "t_score": None}
    assert DiaryRecord.objects.filter(participant=alice).count() == 5


def test_locked_diary_reads_current_records_and_follows_the_writes(alice, bob):
    from django.db import transaction

    evening = chicago(2026, 3, 9, 20, 0)
    first = answer(participant=alice, instrument="ITCH_NRS", answers={1: 7}, channel="web",
                                    at=evening)
    second = answer(participant=alice, instrument="ITCH_NRS", answers={1: 6}, channel="web",
                                     at=evening + timedelta(minutes=1))
    with transaction.atomic():
        locked = diary.lock_diary(alice, date(2026, 3, 9))
        assert locked.records == {"ITCH_NRS": second}  # the superseded first record is not current
        third = answer(participant=alice, instrument="ITCH_NRS", answers={1: 5}, channel="sms",
                                        at=evening + timedelta(minutes=2), locked=locked)
        fourth = answer(participant=alice, instrument="ITCH_NRS", answers={1: 4}, channel="sms",
                                         at=evening + timedelta(minutes=3), locked=locked)
        with pytest.raises(ServiceError, match="another participant"):
            answer(participant=bob, instrument="ITCH_NRS", answers={1: 3}, channel="sms",
                                    at=evening + timedelta(minutes=4), locked=locked)
    assert (third.supersedes, fourth.supersedes) == (second, third)
    assert locked.records == {"ITCH_NRS": fourth}
    assert DiaryRecord.objects.current().get(participant=alice) == fourth
    assert first.pk != fourth.pk and AuditEvent.objects.filter(action="diary.supersede").count() == 3


def test_a_locked_diary_is_refused_outside_its_transaction(alice):
    from django.db import transaction

    with transaction.atomic():
        locked = diary.lock_diary(alice, date(2026, 3, 9))
    # pytest-django wraps each test in a transaction; leave it to see what a caller without one gets.
    connection = transaction.get_connection()
    atomic, connection.in_atomic_block = connection.in_atomic_block, False
    try:
        with pytest.raises(ServiceError, match="transaction"):
            diary.lock_diary(alice, date(2026, 3, 9))
        with pytest.raises(ServiceError, match="transaction"):
            answer(participant=alice, instrument="ITCH_NRS", answers={1: 5}, channel="sms",
                                    at=chicago(2026, 3, 9, 20, 0), locked=locked)
    finally:
        connection.in_atomic_block = atomic
    assert not DiaryRecord.objects.exists()


@pytest.mark.parametrize(
    ("instrument", "answers", "code"),
    [
        ("ITCH_NRS", {1: 11}, "out_of_range"),
        ("ITCH_NRS", {1: -1}, "out_of_range"),
        ("PROMIS_SD8B", {1: 0}, "out_of_range"),
        ("PROMIS_SD8B", {9: 1}, "unknown_item"),
        ("ITCH_NRS", {1: "7"}, "not_a_whole_number"),
        ("ITCH_NRS", {1: True}, "not_a_whole_number"),
        ("ITCH_NRS", {}, "required"),
        ("SCORAD", {1: 1}, "unknown_instrument"),
    ],
)
def test_invalid_answers_are_refused(alice, instrument, answers, code):
    refused = submit(alice, {instrument: answers}, chicago(2026, 3, 9, 19, 0))
    assert isinstance(refused, Refused) and refused.reason == "invalid_answer"
    assert [p.code for p in refused.problems] == [code]
    assert not DiaryRecord.objects.exists()
    assert AuditEvent.objects.get(action="diary.refused").after["reason"] == "invalid_answer"


def test_h12_answer_is_dated_day1_and_only_in_its_window(alice):
    first = alice.first_application_at
    early = submit(alice, {"ITCH_NRS": {1: 6}}, first + timedelta(hours=9, minutes=59), timepoint="H12")
    assert early.reason == "outside_window" and early.next_opens_at == first + timedelta(hours=10)
    record = answer(participant=alice, instrument="ITCH_NRS", timepoint="H12", answers={1: 6},
                    channel="sms", at=first + timedelta(hours=12))
    assert record.diary_date == date(2026, 3, 8) and record.timepoint == "H12"
    wrong = submit(alice, {"PROMIS_SD8B": {1: 1}}, first + timedelta(hours=12), timepoint="H12")
    assert [p.code for p in wrong.problems] == ["not_collected"]


def test_diary_before_runin_start_or_after_withdrawal_is_refused(bob, alice):
    early = submit(bob, {"ITCH_NRS": {1: 3}}, datetime(2026, 3, 19, 19, 0, tzinfo=WARSAW))
    assert early.reason == "diary_not_open" and "starts on 2026-03-20" in early.message
    assert early.next_opens_at == datetime(2026, 3, 20, 17, 0, tzinfo=WARSAW)
    participants.discontinue_participant(participant=alice, on=date(2026, 3, 10), actor="user:x", reason="moved away")
    late = submit(alice, {"ITCH_NRS": {1: 3}}, chicago(2026, 3, 10, 19, 0))
    assert late.reason == "diary_not_open" and late.next_opens_at is None


def test_site_correction_needs_a_reason_and_keeps_provenance(alice, django_user_model):
    nurse = django_user_model.objects.create_user("nurse", is_staff=True)
    record = answer(participant=alice, instrument="ITCH_NRS", answers={1: 8}, channel="sms",
                                     at=chicago(2026, 3, 9, 19, 0))
    with pytest.raises(ServiceError, match="reason"):
        diary.correct_record(record=record, answers={1: 3}, user=nurse, reason="  ")
    fixed = diary.correct_record(record=record, answers={1: 3}, user=nurse, reason="patient called: typo")
    assert (fixed.channel, fixed.entered_by, fixed.supersedes) == ("site", nurse, record)
    assert DiaryRecord.objects.current().get(participant=alice).derived == {"itch": 3}
    event = AuditEvent.objects.get(action="diary.correct")
    assert event.actor == "user:nurse" and event.reason == "patient called: typo"
    with pytest.raises(ServiceError, match="already superseded"):
        diary.correct_record(record=record, answers={1: 4}, user=nurse, reason="again")


def test_append_only_rows_refuse_change_and_delete_in_python(alice):
    record = answer(participant=alice, instrument="ITCH_NRS", answers={1: 8}, channel="sms",
                                     at=chicago(2026, 3, 9, 19, 0))
    record.diary_date = date(2026, 3, 1)
    with pytest.raises(PermissionError):
        record.save()
    with pytest.raises(PermissionError):
        record.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.first().delete()
