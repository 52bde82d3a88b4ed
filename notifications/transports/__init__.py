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


_transports: dict[tuple, Transport] = {}


def get_transport() -> Transport:
    """One transport per process and configuration: its HTTP session (and connection) is reused."""
    key = (settings.SMS_BACKEND, settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
           getattr(settings, "TWILIO_API_BASE", ""))
    transport = _transports.get(key)
    if transport is None:
        transport = _transports[key] = import_string(BACKENDS[settings.SMS_BACKEND])()
    return transport
