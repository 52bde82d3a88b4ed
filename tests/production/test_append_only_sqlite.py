"""In the embedded shape (SQLite) the database itself refuses changes to append-only rows, as PostgreSQL does."""

from datetime import datetime

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from diaries.diary import submit_diary
from diaries.models import AuditEvent, DiaryRecord, Phase, TreatmentEvent
from diaries.participants import change_phase
from diaries.treatment import report_clearance
from notifications.models import InboundMessage
from tests.conftest import CHICAGO
from tests.fake_twilio import signed_post

pytestmark = pytest.mark.django_db
TABLES = ["diaries_diaryrecord", "diaries_treatmentevent", "diaries_auditevent", "notifications_inboundmessage"]


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite triggers (PostgreSQL has its own: tests/diaries/test_append_only_postgres.py)")


def _refused(run):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        run()


def test_queryset_update_and_delete_of_diary_records_are_refused(alice):
    record = submit_diary(participant=alice, channel="sms", timepoint="DAILY", answers={"ITCH_NRS": {1: 7}},
                 partial=True, at=datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO)).records[0]
    _refused(lambda: DiaryRecord.objects.update(answers=[]))
    _refused(lambda: DiaryRecord.objects.filter(pk=record.pk).delete())
    assert DiaryRecord.objects.get(pk=record.pk).answers[0]["score"] == 7


def test_queryset_delete_and_update_of_audit_events_are_refused(alice):
    count = AuditEvent.objects.count()
    assert count
    _refused(lambda: AuditEvent.objects.all().delete())
    _refused(lambda: AuditEvent.objects.update(actor="someone else"))
    assert AuditEvent.objects.count() == count and not AuditEvent.objects.filter(actor="someone else").exists()


def test_treatment_events_are_refused_too(alice):
    change_phase(participant=alice, phase=Phase.LONG_TERM, actor="user:x")
    event = report_clearance(participant=alice, channel="sms", at=datetime(2026, 6, 1, 9, 0, tzinfo=CHICAGO)).event
    _refused(lambda: TreatmentEvent.objects.filter(pk=event.pk).update(kind="recurred"))
    _refused(lambda: TreatmentEvent.objects.filter(pk=event.pk).delete())
    assert TreatmentEvent.objects.get(pk=event.pk).kind == "cleared"


def test_an_inbound_text_can_be_neither_edited_nor_deleted(alice, client, settings):
    settings.TWILIO_AUTH_TOKEN = "test-token"
    response = signed_post(client, "/sms/twilio/inbound/",
                           {"MessageSid": "SM" + "a" * 32, "From": "+13125550111", "Body": "HELP"}, "test-token")
    assert response.status_code == 200
    _refused(lambda: InboundMessage.objects.update(body="STOP"))
    _refused(lambda: InboundMessage.objects.update(outcome="opt_out"))
    _refused(lambda: InboundMessage.objects.all().delete())
    assert InboundMessage.objects.get().body == "HELP"


def test_every_append_only_table_keeps_its_triggers():
    """A later migration that remakes one of these tables on SQLite would drop its triggers: this notices."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'")
        names = set(cursor.fetchall())
    for table in TABLES:
        assert {(table, f"{table}_append_only_update"), (table, f"{table}_append_only_delete")} <= names


@pytest.mark.django_db(transaction=True)
def test_flushing_the_whole_database_still_works_and_keeps_the_triggers(study):
    assert AuditEvent.objects.exists()
    call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)
    assert not AuditEvent.objects.exists()
    test_every_append_only_table_keeps_its_triggers()
