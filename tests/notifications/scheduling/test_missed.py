"""The missed-diary alert: after 2 closed evenings without a diary, once per streak."""

from datetime import UTC, datetime

import pytest
import time_machine

from diaries import participants
from diaries.models import Alert
from notifications.scheduling import missed
from tests.conftest import CHICAGO, WARSAW, answer

pytestmark = pytest.mark.django_db


def diary_at(p, at):
    answer(participant=p, instrument="ITCH_NRS", answers={1: 4}, channel="web", at=at)


def check(at):
    with time_machine.travel(at, tick=False):
        return missed.alert_missed_diaries()


def keys():
    return sorted(Alert.objects.filter(kind="missed_diaries").values_list("key", flat=True))


def test_two_missed_evenings_alert_once_per_streak(alice):
    for day in range(1, 11):
        if day not in (4, 5, 6, 9, 10):
            diary_at(alice, datetime(2026, 3, day, 20, 0, tzinfo=CHICAGO))
    assert check(datetime(2026, 3, 6, 2, 59, tzinfo=CHICAGO)) == 0   # 4 March closed, 5 March still open
    assert check(datetime(2026, 3, 6, 3, 0, tzinfo=CHICAGO)) == 1    # 4 and 5 March closed: two in a row
    assert check(datetime(2026, 3, 7, 4, 0, tzinfo=CHICAGO)) == 0    # the streak goes on: no second alert
    assert check(datetime(2026, 3, 12, 4, 0, tzinfo=CHICAGO)) == 1   # 9-11 March: a new streak
    assert keys() == sorted([f"missed:{alice.pk}:2026-03-04", f"missed:{alice.pk}:2026-03-09"])


def test_a_diary_tonight_does_not_hide_the_streak_before_it(bob):
    # bob's run-in starts 20 March; he answers nothing until the evening of the 22nd.
    diary_at(bob, datetime(2026, 3, 22, 19, 0, tzinfo=WARSAW))
    assert check(datetime(2026, 3, 22, 19, 30, tzinfo=WARSAW)) == 1
    assert keys() == [f"missed:{bob.pk}:2026-03-20"]


def test_the_window_closes_at_03_00_on_the_spring_forward_night(bob):
    # Europe/Warsaw skips 02:00-03:00 on 29 March: the evening of the 28th closes at 01:00 UTC.
    diary_at(bob, datetime(2026, 3, 26, 19, 0, tzinfo=WARSAW))
    assert check(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC)) == 0
    assert check(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)) == 1
    assert keys() == [f"missed:{bob.pk}:2026-03-27"]


def test_nobody_outside_the_diary_phases_is_alerted(alice):
    participants.change_phase(participant=alice, phase="long_term", actor="system:test")
    assert check(datetime(2026, 6, 1, 12, 0, tzinfo=CHICAGO)) == 0
