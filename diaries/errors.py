"""The service error family: a request that breaks a rule. Nothing was written for it.

Pure (no Django): the protocol rules raise these too.
"""

from __future__ import annotations

from datetime import datetime


class ServiceError(ValueError):
    """A request that breaks a rule: the caller shows the message, nothing was written."""


class InvalidAnswer(ServiceError):
    """An answer the instrument does not have (unknown item, option out of range, not a whole number)."""


class DiaryNotOpen(ServiceError):
    """No diary for this participant now: before the run-in, after the daily diary, withdrawn."""


class OutsideWindow(ServiceError):
    """A submission outside the diary window: refused, never diary data."""

    def __init__(self, message: str, next_opens_at: datetime | None = None):
        super().__init__(message)
        self.next_opens_at = next_opens_at
