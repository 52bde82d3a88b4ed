"""What a dead-token answer does to an app device: deactivated, unless APNs's BadDeviceToken comes in a burst.

A dead token (FCM UNREGISTERED, or INVALID_ARGUMENT naming the token; APNs 410 Unregistered or
ExpiredToken; APNs 400 BadDeviceToken) deactivates the device: audited, the site told, and
the participant's prompts go by SMS until the app registers again.

But APNs answers BadDeviceToken both for a token that does not reach the app and for every
token of the other environment: a sandbox build's token sent to the production host or the
reverse, i.e. APNS_ENVIRONMENT not matching the app's build. Taken for dead tokens, that
mistake would deactivate every iOS device in one evening, and only each patient opening the
app again would undo it. So the rule:

- BadDeviceToken from BURST_DEVICES (3) or more iOS devices within BURST_WINDOW (10 minutes),
  while APNs accepted fewer pushes than that in the same minutes, is a burst: the likelier
  cause is the environment. The devices stay active (their pushes fail, saying why), those
  this burst had already deactivated are reactivated (audited, their site alerts closed), and
  one operator alert a day per study says to check APNS_ENVIRONMENT.
- Otherwise BadDeviceToken deactivates the device like any dead token: APNs takes the other
  pushes, so the environment is right and this token is bad.
A study whose every iOS token really died in the same ten minutes keeps its devices; their
pushes keep failing (shown on each participant's page), and the operator alert says so.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from diaries import alerts, participants
from diaries.models import AlertKind, PushDevice, PushPlatform

from .models import MessageChannel, OutboundMessage, OutboundStatus

BURST_WINDOW = timedelta(minutes=10)
BURST_DEVICES = 3
BAD_DEVICE_TOKEN = "BadDeviceToken"
HELD = ("not deactivated: APNs answered BadDeviceToken for {bad} iOS devices in 10 minutes and accepted {accepted} "
        "pushes, a sign that APNS_ENVIRONMENT does not match the app's build (the operator is alerted)")


def on_dead_token(*, message: OutboundMessage, device: PushDevice, provider: str, code: str,
                  accepted_now: int = 0) -> bool:
    """Deactivate the device the provider called dead, unless BadDeviceToken comes in a burst; True if deactivated.

    The message has already been recorded failed with the code. `accepted_now`: iOS pushes APNs
    accepted in the same send chunk, not yet recorded as sent.
    """
    now = timezone.now()
    if provider == "apns" and code == BAD_DEVICE_TOKEN:
        bad, accepted = _recent_answers(now)
        accepted += accepted_now
        if bad >= BURST_DEVICES and accepted < bad:
            _hold(message=message, device=device, bad=bad, accepted=accepted, now=now)
            return False
    return participants.deactivate_push_device(device_id=device.pk, reason=f"{provider}:{code}",
                                               actor=f"system:{provider}")


def _recent_answers(now: datetime) -> tuple[int, int]:
    """(iOS devices answered BadDeviceToken, iOS pushes accepted) in the last BURST_WINDOW."""
    ios = OutboundMessage.objects.filter(channel=MessageChannel.PUSH, device__platform=PushPlatform.IOS)
    bad = (ios.filter(error_code=BAD_DEVICE_TOKEN, updated_at__gte=now - BURST_WINDOW)
           .values("device_id").distinct().count())
    accepted = ios.filter(sent_at__gte=now - BURST_WINDOW).filter(
        Q(status=OutboundStatus.SENT) | Q(status=OutboundStatus.DELIVERED)).count()
    return bad, accepted


def _hold(*, message: OutboundMessage, device: PushDevice, bad: int, accepted: int, now: datetime) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(error_message=HELD.format(bad=bad, accepted=accepted)[:300])
    # The first devices of the burst were deactivated before it was one: give them back.
    earlier = PushDevice.objects.filter(platform=PushPlatform.IOS, active=False,
                                        deactivated_reason=f"apns:{BAD_DEVICE_TOKEN}",
                                        deactivated_at__gte=now - BURST_WINDOW)
    for pk in earlier.values_list("pk", flat=True):
        participants.reactivate_push_device(
            device_id=pk, actor="system:apns",
            reason="BadDeviceToken came in a burst across devices: APNS_ENVIRONMENT, not this device")
    environment = os.environ.get("APNS_ENVIRONMENT", "")
    other = "sandbox" if environment == "production" else "production"
    alerts.raise_alert(
        study=device.participant.study, kind=AlertKind.UNDELIVERABLE, key=f"apns:environment:{now:%Y-%m-%d}",
        detail=f"For the study's operator: APNs answered BadDeviceToken for {bad} iOS devices within 10 minutes "
               f"and accepted {accepted} pushes. APNS_ENVIRONMENT is {environment or 'unset'}: if the app's build "
               f"is of the other kind ({other}; App Store and TestFlight builds are production, builds run from "
               f"Xcode sandbox), set it and restart the workers. The devices were kept active; their pushes fail "
               f"until then.")
