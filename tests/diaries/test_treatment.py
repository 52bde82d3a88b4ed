"""Treatment reports of the long-term phase: clearance, recurrence, the spread answer and its alert."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from diaries import participants
from diaries.errors import DiaryNotOpen, ServiceError
from diaries.models import Phase, TreatmentEvent
from tests.conftest import CHICAGO, answer_spread, report_treatment

pytestmark = pytest.mark.django_db


def chicago(*args):
    return datetime(*args, tzinfo=CHICAGO)


def test_treatment_events_only_in_the_long_term_phase(alice):
    at = chicago(2026, 6, 1, 9, 0)
    with pytest.raises(DiaryNotOpen):
        report_treatment(participant=alice, kind="cleared", channel="sms", at=at)
    participants.change_phase(participant=alice, phase=Phase.LONG_TERM, actor="user:x")
    event = report_treatment(participant=alice, kind="cleared", channel="sms",
                                            at=datetime(2026, 6, 2, 3, 0, tzinfo=ZoneInfo("UTC")))
    assert event.event_date == date(2026, 6, 1)  # 22:00 in Chicago
    assert TreatmentEvent.objects.count() == 1


def test_spread_after_recurrence_supersedes_it_and_alerts_the_site_once(alice):
    from diaries.models import Alert

    participants.change_phase(participant=alice, phase=Phase.LONG_TERM, actor="user:x")
    with pytest.raises(ServiceError, match="no recurrence"):
        answer_spread(participant=alice, channel="sms", new_or_extensive=True)
    flare = report_treatment(participant=alice, kind="recurred", channel="sms",
                                            at=chicago(2026, 6, 10, 20, 0))
    spread = answer_spread(participant=alice, channel="sms", new_or_extensive=True,
                                    at=chicago(2026, 6, 10, 20, 1))
    assert spread.supersedes == flare and spread.new_or_extensive is True
    alert = Alert.objects.get()
    assert (alert.kind, alert.site, alert.participant, alert.status) == ("lesions_spread", alice.site, alice, "open")
    with pytest.raises(ServiceError, match="no recurrence"):
        # The recurrence was answered; a second answer needs a new recurrence first.
        answer_spread(participant=alice, channel="sms", new_or_extensive=True)
    assert Alert.objects.count() == 1
