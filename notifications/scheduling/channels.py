"""Which channel a prompt goes out on: the participant's preference against what can reach them.

Preferences (per study default, per participant override by the site or in the app):
- `sms`: text messages only;
- `push`: push notifications to the app only;
- `push_then_sms`: a push, then the same prompt by SMS if the diary is not started within
  the study's N minutes (the fallback is its own scheduled row, due N minutes later; the
  tick skips it when any answer of that diary date has arrived, by any channel; for a
  prompt that waits for no answer, when the app was used after the push: dispatch.Reach).

SMS consent and push reachability are independent: a participant who texted STOP still
gets pushes, and one whose app no longer has a live device token still gets texts. When
the preferred channel cannot reach the participant, the other one is used (a reminder
on the wrong channel beats a missed diary); the site sees the channel of every prompt.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta


class Preference(enum.StrEnum):
    SMS = "sms"
    PUSH = "push"
    PUSH_THEN_SMS = "push_then_sms"


class Channel(enum.StrEnum):
    SMS = "sms"
    PUSH = "push"


@dataclass(frozen=True)
class Route:
    """The channel of the prompt now (None: nothing reaches the participant) and, maybe, an SMS fallback later."""

    channel: Channel | None
    fallback_after: timedelta | None = None
    reason: str = ""  # why it is not the preferred channel, or why nothing is sent


def route(preference: Preference | str, *, can_text: bool, can_push: bool, fallback_after: timedelta) -> Route:
    """The route of one prompt. `can_text`: SMS consent given and a number; `can_push`: an active device."""
    preference = Preference(preference)
    if preference == Preference.SMS:
        if can_text:
            return Route(Channel.SMS)
        return Route(Channel.PUSH, reason="opted out of SMS") if can_push else Route(None, reason="opted out")
    if can_push:
        fallback = fallback_after if preference == Preference.PUSH_THEN_SMS and can_text else None
        return Route(Channel.PUSH, fallback)
    if can_text:
        return Route(Channel.SMS, reason="no active app device")
    return Route(None, reason="opted out of SMS and no active app device")
