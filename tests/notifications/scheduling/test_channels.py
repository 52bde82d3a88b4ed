"""The channel of each prompt (notifications/scheduling/channels.py), for every preference and reachability."""

from datetime import timedelta

import pytest

from notifications.scheduling.channels import Channel, Preference, Route, route

N = timedelta(minutes=30)


@pytest.mark.parametrize(("preference", "can_text", "can_push", "expected"), [
    ("sms", True, True, Route(Channel.SMS)),
    ("sms", True, False, Route(Channel.SMS)),
    ("sms", False, True, Route(Channel.PUSH, reason="opted out of SMS")),  # STOP does not stop pushes
    ("sms", False, False, Route(None, reason="opted out")),
    ("push", True, True, Route(Channel.PUSH)),
    ("push", False, True, Route(Channel.PUSH)),
    ("push", True, False, Route(Channel.SMS, reason="no active app device")),
    ("push", False, False, Route(None, reason="opted out of SMS and no active app device")),
    ("push_then_sms", True, True, Route(Channel.PUSH, N)),
    ("push_then_sms", False, True, Route(Channel.PUSH)),  # no fallback to a channel the patient left
    ("push_then_sms", True, False, Route(Channel.SMS, reason="no active app device")),
    ("push_then_sms", False, False, Route(None, reason="opted out of SMS and no active app device")),
])
def test_each_prompt_takes_the_preferred_channel_that_reaches_the_participant(preference, can_text, can_push,
                                                                             expected):
    assert route(preference, can_text=can_text, can_push=can_push, fallback_after=N) == expected


def test_an_unknown_preference_is_an_error():
    with pytest.raises(ValueError):
        route("email", can_text=True, can_push=True, fallback_after=N)
    assert [p.value for p in Preference] == ["sms", "push", "push_then_sms"]
