"""SMS transports, one class per provider, chosen by SMS_BACKEND: twilio, console, locmem."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {
    "twilio": "notifications.transports.twilio.TwilioTransport",
    "console": "notifications.transports.console.ConsoleTransport",
    "locmem": "notifications.transports.locmem.LocmemTransport",
}


@dataclass(frozen=True)
class Sent:
    provider_sid: str


class TransportError(Exception):
    """A send that failed; `retryable` tells the outbox whether trying again can help."""

    def __init__(self, message: str, *, code: str = "", retryable: bool = False):
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class Transport:
    def send(self, *, to: str, body: str, status_callback: str | None) -> Sent:
        raise NotImplementedError


def get_transport() -> Transport:
    return import_string(BACKENDS[settings.SMS_BACKEND])()
