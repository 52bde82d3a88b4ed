"""manage.py dispatch_prompts: one participant's tick at a local time ahead (the README's push walk-through)."""

import io
from datetime import datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command

from diaries import participants
from notifications.models import ScheduledPrompt
from notifications.scheduling import planner
from tests.conftest import CHICAGO

pytestmark = pytest.mark.django_db


def test_the_evening_prompt_goes_out_ahead_for_that_participant_only(alice, bob):
    participants.register_push_device(participant=alice, platform="android", token="fcm-token-alice",
                                      at=datetime(2026, 3, 1, tzinfo=CHICAGO))
    participants.set_channel_preference(participant=alice, preference="push_then_sms", actor="system:test",
                                        source="test")
    planner.plan_prompts(now=datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO))
    # Bob's 19:00 in Warsaw is 13:00 in Chicago: due by alice's 19:00, but his are the tick's.
    assert ScheduledPrompt.objects.filter(participant=bob, due_at__lte=datetime(2026, 3, 20, 19, 0, tzinfo=CHICAGO),
                                          status="pending").exists()
    out = io.StringIO()
    with time_machine.travel(datetime(2026, 3, 20, 12, 0, tzinfo=CHICAGO), tick=False):
        call_command("dispatch_prompts", alice.usubjid, at="2026-03-20 19:00", stdout=out)
        with pytest.raises(CommandError, match="ahead of now"):
            call_command("dispatch_prompts", alice.usubjid, at="2026-03-20 11:00")
        with pytest.raises(CommandError, match="within 2 days"):
            call_command("dispatch_prompts", alice.usubjid, at="2026-03-23 19:00")
    prompt = ScheduledPrompt.objects.get(participant=alice, kind="diary", slot="2026-03-20", fallback_of=None)
    assert prompt.status == "sent" and prompt.outbound.channel == "push"
    assert "19:00 Evening diary prompt (2026-03-20): Sent by Push" in out.getvalue()
    assert "next: Evening diary prompt (SMS fallback) at 2026-03-20 19:30" in out.getvalue()
    assert not ScheduledPrompt.objects.filter(participant=bob).exclude(status="pending").exists()
