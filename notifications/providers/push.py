"""What every push provider is given and what it answers, whichever the platform.

A provider never raises for a provider's answer: it returns one of four outcomes, the
same split the SMS side makes (TransportError.retryable), plus the one SMS lacks:
- SENT: the provider took it; `provider_id` is its message id;
- DEAD_TOKEN: the device token no longer reaches an app (uninstalled, token rotated):
  deactivate the device, audit it and show it to the site; never retry it;
- TRANSIENT: try again later (rate limited, provider down, network), after
  `retry_after` seconds when the provider said so;
- PERMANENT: no retry can fix it (a malformed message, a misconfigured project or key).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Push:
    """One notification to one device. Lock screens are public: title and body come from push_texts."""

    token: str
    title: str
    body: str
    link: str  # the deep link the app opens on tap
    collapse_id: str  # a later push with the same id replaces this one on the device (reminder over prompt)
    expires_at: datetime  # aware; the provider drops it after this (the diary window's close)
    data: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.expires_at.tzinfo is None:
            raise ValueError("expires_at must be an aware datetime")
        # APNs refuses a collapse id over 64 bytes (400 BadCollapseId); FCM's tag has no such limit.
        if not self.collapse_id or len(self.collapse_id.encode()) > 64:
            raise ValueError("collapse_id must be 1 to 64 bytes")


class Outcome(enum.StrEnum):
    SENT = "sent"
    DEAD_TOKEN = "dead_token"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class PushResult:
    outcome: Outcome
    provider_id: str = ""
    code: str = ""  # the provider's error code (UNREGISTERED, BadDeviceToken, 429, network, ...)
    detail: str = ""
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        return self.outcome == Outcome.TRANSIENT


def sent(provider_id: str) -> PushResult:
    return PushResult(Outcome.SENT, provider_id=provider_id)


def dead_token(code: str, detail: str = "") -> PushResult:
    return PushResult(Outcome.DEAD_TOKEN, code=code, detail=detail[:300])


def transient(code: str, detail: str = "", *, retry_after: float | None = None) -> PushResult:
    return PushResult(Outcome.TRANSIENT, code=code, detail=detail[:300], retry_after=retry_after)


def permanent(code: str, detail: str = "") -> PushResult:
    return PushResult(Outcome.PERMANENT, code=code, detail=detail[:300])


def retry_after_seconds(value: str | None) -> float | None:
    """The Retry-After header in seconds (both providers send the delta-seconds form)."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class PushConfigError(ValueError):
    """A push provider's environment is incomplete or wrong; the message names the variable."""
