"""APNs's BadDeviceToken: a dead token deactivates its device, a burst across devices is the wrong APNS_ENVIRONMENT."""

from datetime import datetime

import pytest
import time_machine

from diaries import participants
from diaries.models import Alert, AuditEvent, PushDevice
from notifications import outbox
from notifications.models import OutboundMessage
from notifications.scheduling import dispatch, planner
from tests.conftest import CHICAGO
from tests.notifications.scheduling.test_push_sending import PROMPT_AT

pytestmark = pytest.mark.django_db

BAD = (400, "BadDeviceToken")


def ios_devices(p, n: int, start: int = 0) -> list[str]:
    tokens = [f"{start + i + 1:064x}" for i in range(n)]
    for token in tokens:
        participants.register_push_device(participant=p, platform="ios", token=token,
                                          at=datetime(2026, 3, 1, tzinfo=CHICAGO))
    participants.set_channel_preference(participant=p, preference="push", actor="system:test", source="test")
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    return tokens


@pytest.fixture
def chunk(monkeypatch, django_capture_on_commit_callbacks):
    """The 19:00 tick, then its pushes handed over as one send chunk (as send_messages_task does)."""
    queued = []
    monkeypatch.setattr(outbox, "_enqueue", queued.extend)

    def run(at=PROMPT_AT):
        queued.clear()
        with time_machine.travel(at, tick=False), django_capture_on_commit_callbacks(execute=True):
            dispatch.dispatch_due_prompts()
        with time_machine.travel(at, tick=False):
            return outbox.send_messages(list(queued))

    return run


def test_bad_device_token_on_every_ios_device_is_the_environment_not_dead_tokens(alice, providers, chunk):
    _, apns = providers
    for token in ios_devices(alice, 4):
        apns.fail_token[token] = BAD
    assert set(chunk().values()) == {"failed"}
    assert PushDevice.objects.filter(participant=alice, active=True).count() == 4  # none deactivated
    assert not Alert.objects.filter(kind="device_deactivated").exists()
    [alert] = Alert.objects.filter(kind="undeliverable")
    assert alert.participant is None and alert.study == alice.study
    assert "APNS_ENVIRONMENT is production" in alert.detail and "4 iOS devices" in alert.detail
    for message in OutboundMessage.objects.filter(channel="push"):
        assert message.error_code == "BadDeviceToken" and "APNS_ENVIRONMENT does not match" in message.error_message
    chunk(datetime(2026, 3, 20, 21, 30, 20, tzinfo=CHICAGO))  # the reminder: the same, and still one alert a day
    assert Alert.objects.filter(kind="undeliverable").count() == 1
    assert PushDevice.objects.filter(participant=alice, active=True).count() == 4


def test_bad_device_token_beside_accepted_pushes_deactivates_those_devices(alice, providers, chunk):
    _, apns = providers
    tokens = ios_devices(alice, 6)
    for token in tokens[:3]:
        apns.fail_token[token] = BAD
    chunk()
    dead = PushDevice.objects.filter(participant=alice, active=False)
    assert sorted(d.token for d in dead) == tokens[:3]
    assert {d.deactivated_reason for d in dead} == {"apns:BadDeviceToken"}
    assert Alert.objects.filter(kind="device_deactivated").count() == 3
    assert not Alert.objects.filter(kind="undeliverable").exists()


def test_the_first_devices_of_a_burst_sent_one_by_one_are_given_back(alice, providers, run_tick):
    _, apns = providers
    for token in ios_devices(alice, 3):
        apns.fail_token[token] = BAD
    run_tick(PROMPT_AT)  # one send task per push: the first two look like dead tokens, the third makes a burst
    assert PushDevice.objects.filter(participant=alice, active=True).count() == 3
    reactivated = AuditEvent.objects.filter(action="app.device_reactivated", actor="system:apns")
    assert reactivated.count() == 2 and "APNS_ENVIRONMENT" in reactivated.first().reason
    alerts = Alert.objects.filter(kind="device_deactivated")
    assert alerts.count() == 2 and {a.status for a in alerts} == {"closed"}
    assert Alert.objects.filter(kind="undeliverable", key__startswith="apns:environment:").count() == 1
