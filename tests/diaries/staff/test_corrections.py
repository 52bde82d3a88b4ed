"""A correction through the admin, end to end: a reason is required, the original stays, the audit says who and why."""

from datetime import datetime

import pytest

from diaries.models import AuditEvent, DiaryRecord
from tests.conftest import CHICAGO, answer

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(alice):
    return answer(participant=alice, instrument="ITCH_NRS", answers={1: 8}, channel="sms",
                                   at=datetime(2026, 3, 9, 20, 0, tzinfo=CHICAGO))


def correct_url(record):
    return f"/admin/diaries/diaryrecord/{record.pk}/correct/"


def test_a_correction_needs_a_reason_and_writes_nothing_without_one(client, coordinator, record):
    client.force_login(coordinator)
    form = client.get(correct_url(record))
    assert form.status_code == 200 and form.context["form"]["item_1"].initial == 8
    response = client.post(correct_url(record), {"item_1": "3", "reason": "   "})
    assert response.status_code == 200 and response.context["form"].errors
    assert DiaryRecord.objects.count() == 1
    assert not AuditEvent.objects.filter(action="diary.correct").exists()


def test_correction_end_to_end(client, coordinator, record):
    client.force_login(coordinator)
    response = client.post(correct_url(record), {"item_1": "3", "reason": "Patient called: typed 8 for 3"})
    new = DiaryRecord.objects.get(supersedes=record)
    assert response.status_code == 302 and response["Location"] == f"/admin/diaries/diaryrecord/{new.pk}/change/"

    # The new record: the site's value with provenance; the original unchanged and still there.
    assert new.derived == {"itch": 3} and new.channel == "site"
    assert new.entered_by == coordinator and new.reason == "Patient called: typed 8 for 3"
    assert new.diary_date == record.diary_date
    original = DiaryRecord.objects.get(pk=record.pk)
    assert original.derived == {"itch": 8} and original.answers == record.answers
    assert list(DiaryRecord.objects.current().filter(participant=record.participant)) == [new]

    # The audit trail: who, when, why, before and after, scoped to the site.
    event = AuditEvent.objects.get(action="diary.correct")
    assert event.actor == "user:coordinator" and event.reason == "Patient called: typed 8 for 3"
    assert event.object_id == str(new.pk) and event.site == record.participant.site
    assert event.before["record"] == str(record.pk) and event.before["answers"][0]["option"] == 8
    assert event.after["answers"][0]["option"] == 3

    # Both are visible: the original marked superseded, pointing to its correction.
    page = client.get(f"/admin/diaries/diaryrecord/{record.pk}/change/").content.decode()
    assert "This record was superseded" in page and "Patient called: typed 8 for 3" in page
    assert "Correct this value" not in page
    listing = client.get("/admin/diaries/diaryrecord/", {"current": "no"})
    assert [r.pk for r in listing.context["cl"].result_list] == [record.pk]
    participant_page = client.get(f"/admin/diaries/participant/{record.participant.pk}/change/").content.decode()
    assert "superseded" in participant_page and "coordinator: Patient called" in participant_page
    assert "diary.correct" in participant_page

    # Correcting the superseded original leads to the current record instead.
    again = client.get(correct_url(record))
    assert again.status_code == 302 and again["Location"].endswith(f"/{new.pk}/change/")


def test_the_monitor_and_charlie_cannot_correct(client, monitor, charlie_staff, record):
    client.force_login(monitor)
    assert client.post(correct_url(record), {"item_1": "3", "reason": "x"}).status_code == 403
    client.force_login(charlie_staff)
    assert client.post(correct_url(record), {"item_1": "3", "reason": "x"}).status_code == 404
    assert DiaryRecord.objects.count() == 1


def test_a_promis_correction_keeps_the_other_items(client, coordinator, alice):
    record = answer(participant=alice, instrument="PROMIS_SD8B",
                                     answers={i: 2 for i in range(1, 9)}, channel="web",
                                     at=datetime(2026, 3, 9, 20, 0, tzinfo=CHICAGO))
    client.force_login(coordinator)
    data = {f"item_{i}": "2" for i in range(1, 9)} | {"item_2": "5", "reason": "Wrong option tapped"}
    assert client.post(correct_url(record), data).status_code == 302
    new = DiaryRecord.objects.get(supersedes=record)
    scores = {a["item"]: a["score"] for a in new.answers}
    assert scores[2] == 1  # item 2 is reversed: option 5 scores 1
    assert all(scores[i] == 2 for i in (1, 4, 5, 6)) and len(scores) == 8
