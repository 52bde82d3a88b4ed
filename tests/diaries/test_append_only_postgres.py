"""On PostgreSQL the database itself refuses UPDATE and DELETE on diary, treatment and audit rows."""

from datetime import datetime

import pytest
from django.db import DatabaseError, connection, transaction

from diaries import participants
from diaries.models import AuditEvent, DiaryRecord, Phase, TreatmentEvent
from tests.conftest import CHICAGO, answer, report_treatment

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("the append-only triggers exist on PostgreSQL only (CI runs this on PostgreSQL)")


def _refused(sql, params):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
        cur.execute(sql, params)


def test_database_refuses_update_and_delete_of_diary_records(alice):
    record = answer(participant=alice, instrument="ITCH_NRS", answers={1: 7}, channel="sms",
                                     at=datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO))
    _refused("UPDATE diaries_diaryrecord SET diary_date = '2026-01-01' WHERE id = %s", [record.pk])
    _refused("DELETE FROM diaries_diaryrecord WHERE id = %s", [record.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        DiaryRecord.objects.filter(pk=record.pk).update(answers=[])
    assert DiaryRecord.objects.get(pk=record.pk).answers[0]["score"] == 7


def test_database_refuses_update_and_delete_of_audit_events(alice):
    event = AuditEvent.objects.filter(object_id=str(alice.pk)).first()
    _refused("UPDATE diaries_auditevent SET actor = 'someone else' WHERE id = %s", [event.pk])
    _refused("DELETE FROM diaries_auditevent WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_database_refuses_update_of_treatment_events(alice):
    participants.change_phase(participant=alice, phase=Phase.LONG_TERM, actor="user:x")
    event = report_treatment(participant=alice, kind="cleared", channel="sms",
                                            at=datetime(2026, 6, 1, 9, 0, tzinfo=CHICAGO))
    _refused("UPDATE diaries_treatmentevent SET kind = 'recurred' WHERE id = %s", [event.pk])
    assert TreatmentEvent.objects.get(pk=event.pk).kind == "cleared"
