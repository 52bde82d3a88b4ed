"""Site alerts: opened once per occurrence, acknowledged, closed with a note."""

from datetime import datetime

import pytest

from diaries import alerts
from diaries.errors import ServiceError
from diaries.models import AuditEvent
from tests.conftest import CHICAGO

pytestmark = pytest.mark.django_db


def chicago(*args):
    return datetime(*args, tzinfo=CHICAGO)


def test_alert_lifecycle_needs_a_note_to_close(alice, django_user_model):
    nurse = django_user_model.objects.create_user("nurse2", is_staff=True)
    alert = alerts.raise_alert(participant=alice, kind="missed_diaries", key="streak:2026-03-10")
    assert alerts.raise_alert(participant=alice, kind="missed_diaries", key="streak:2026-03-10") is None
    alerts.acknowledge_alert(alert=alert, user=nurse)
    with pytest.raises(ServiceError, match="note"):
        alerts.close_alert(alert=alert, user=nurse, note="")
    closed = alerts.close_alert(alert=alert, user=nurse, note="Called the patient; phone was broken.")
    assert closed.status == "closed" and closed.closed_by == nurse
    assert [e.action for e in AuditEvent.objects.filter(object_type="Alert").order_by("id")] == [
        "alert.open", "alert.acknowledge", "alert.close"]
