"""SMS providers: one transport class per provider, chosen by SMS_BACKEND: twilio, console, locmem.

Only notifications/providers/twilio/ knows Twilio (its SDK, its webhooks, its error
codes); the outbox sees a Transport, Sent or a TransportError with what it means.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {
    "twilio": "notifications.providers.twilio.transport.TwilioTransport",
    "console": "notifications.providers.console.ConsoleTransport",
    "locmem": "notifications.providers.locmem.LocmemTransport",
}


@dataclass(frozen=True)
class Sent:
    provider_sid: str


# How a provider's plain reason ends when it will try again; a final failure says otherwise.
TRIED_AGAIN = "; it will be tried again."

# What a failed message means for the participant, whatever the provider calls it.
OPTED_OUT = "opted_out"  # the recipient opted out with the carrier: record it, text no more
BAD_NUMBER = "bad_number"  # the number cannot take texts: the site checks it
SENDER_PROBLEM = "sender_problem"  # our sender or content is refused (filtered, unregistered): the operator fixes it


class TransportError(Exception):
    """A send that failed; `retryable` tells the outbox whether trying again can help.

    `code` is the provider's own (kept on the message for the site to read); `problem`
    is OPTED_OUT, BAD_NUMBER or None.
    """

    def __init__(self, message: str, *, code: str = "", retryable: bool = False, problem: str | None = None,
                 reason: str = ""):
        super().__init__(message)
        self.code = code
        self.retryable = retryable
        self.problem = problem
        self.reason = reason  # for the coordinator, in plain words (the participant page shows it)


@dataclass(frozen=True)
class Pause:
    """Sending paused for a sender that carriers refuse, until the operator resumes it."""

    sender: str
    since: datetime
    refused: int  # refusals in a row, nothing delivered in between, when it paused


class Transport:
    def send(self, *, to: str, body: str, status_callback: str | None, validity_period: int | None = None) -> Sent:
        raise NotImplementedError

    def record_sender_refused(self) -> None:
        """A message refused because of the sender (SENDER_PROBLEM); a provider may pause sending for it."""

    def sending_paused(self) -> Pause | None:
        """The pause of this transport's sender, if sending is paused."""
        return None


log = logging.getLogger(__name__)
_local = threading.local()


def get_transport() -> Transport:
    """One transport per thread and configuration: its HTTP session (and connection) is reused.

    Per thread, not per process: a requests session is not meant to be shared by threads
    (see `send_all`).
    """
    key = (settings.SMS_BACKEND, settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
           getattr(settings, "TWILIO_API_BASE", ""))
    transports = getattr(_local, "transports", None)
    if transports is None:
        transports = _local.transports = {}
    transport = transports.get(key)
    if transport is None:
        transport = transports[key] = import_string(BACKENDS[settings.SMS_BACKEND])()
    return transport


@dataclass(frozen=True)
class Outgoing:
    to: str
    body: str
    status_callback: str | None
    # Seconds the provider may keep it queued before giving up (Twilio's ValidityPeriod); None: its default.
    valid_for: int | None = None


def send_all(messages: list[Outgoing], *, transport: Transport | None = None) -> list[Sent | Exception]:
    """Hand the messages over concurrently (SMS_SEND_THREADS at a time); each one's Sent or exception, in order.

    A Twilio API call takes 100-300 ms, almost all of it waiting: one at a time, a worker
    process could not send more than 3-10 messages a second. Only the HTTP calls run in
    the threads (each thread with its own transport and keep-alive session); the caller
    records the outcomes in its own thread and database connection. An exception that is
    not a TransportError is returned too, not raised, so the rest of the chunk is recorded.
    """

    def one(message: Outgoing) -> Sent | Exception:
        try:
            # Only a deadline is passed on: transports without one (console, locmem) take no such option.
            options = {"validity_period": message.valid_for} if message.valid_for else {}
            return (transport or get_transport()).send(to=message.to, body=message.body,
                                                       status_callback=message.status_callback, **options)
        except Exception as exc:  # recorded by the caller with this message, never dropped
            if not isinstance(exc, TransportError):
                log.exception("sending a message raised %s", type(exc).__name__)
            return exc

    if len(messages) <= 1 or settings.SMS_SEND_THREADS <= 1:
        return [one(m) for m in messages]
    return list(_pool().map(one, messages))


_pool_lock = threading.Lock()
_pools: dict[int, ThreadPoolExecutor] = {}


def _pool() -> ThreadPoolExecutor:
    # Keyed by process id: a prefork worker child must not use threads of the parent it was forked from.
    pid = os.getpid()
    with _pool_lock:
        pool = _pools.get(pid)
        if pool is None:
            pool = _pools[pid] = ThreadPoolExecutor(settings.SMS_SEND_THREADS, thread_name_prefix="sms-send")
        return pool
