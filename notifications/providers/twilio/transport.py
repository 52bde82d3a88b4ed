"""Sending through Twilio's REST API (its SDK, with a kept-alive HTTP session)."""

from __future__ import annotations

import logging

from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.providers import Pause, Sent, Transport, TransportError
from notifications.providers.twilio import errors, pacing

log = logging.getLogger(__name__)

# Twilio's maximum (and default) ValidityPeriod: 10 hours.
MAX_VALIDITY = 36_000
PAUSED_REASON = ("Not sent: sending is paused for the whole study because carriers refused every recent text "
                 "from the study's number; the study's operator has been told.")


class TwilioTransport(Transport):
    def __init__(self, http_client: TwilioHttpClient | None = None):
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
            http_client=http_client or _http_client(),
        )

    def send(self, *, to, body, status_callback, validity_period: int | None = None):
        params = {"to": to, "body": body}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            params["messaging_service_sid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            params["from_"] = settings.TWILIO_FROM_NUMBER
        if status_callback:
            params["status_callback"] = status_callback
        if validity_period:
            # Twilio drops a message still queued after this many seconds (1 to 36,000).
            params["validity_period"] = max(1, min(MAX_VALIDITY, int(validity_period)))
        if pacing.is_paused():
            raise TransportError("sender paused: carriers refused every recent message", code="paused",
                                 retryable=True, reason=PAUSED_REASON)
        messages = self.client.messages  # the SDK loads its API modules on first use: before our turn, not in it
        pacing.wait_for_turn()
        try:
            message = messages.create(**params)
        except TwilioRestException as exc:
            code = str(exc.code or exc.status)
            policy = errors.policy_of(code, http_status=exc.status)
            raise TransportError(f"twilio {exc.status}: {exc.msg}", code=code, retryable=policy.retryable,
                                 problem=policy.problem, reason=policy.reason) from exc
        except OSError as exc:  # connection refused, reset, timeout
            raise TransportError(f"twilio unreachable: {exc}", code="network", retryable=True,
                                 reason=errors.SERVER_ERROR.reason) from exc
        return Sent(provider_sid=message.sid)

    def record_sender_refused(self) -> None:
        if pacing.record_refused():
            log.error("sender %s paused: carriers refused every recent message", pacing.sender())

    def sending_paused(self) -> Pause | None:
        return pacing.paused()


class _RedirectingClient(TwilioHttpClient):
    """Sends the SDK's requests to TWILIO_API_BASE (a local fake Twilio server in tests)."""

    def __init__(self, base: str):
        super().__init__(timeout=10)
        self.base = base.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        path = url.split(".twilio.com", 1)[-1]
        return super().request(method, self.base + path, *args, **kwargs)


def _http_client():
    base = getattr(settings, "TWILIO_API_BASE", "")
    client = _RedirectingClient(base) if base else TwilioHttpClient(timeout=10)
    # requests looks up the proxy variables, the CA bundle variable and ~/.netrc again for
    # every request (about 0.5 ms of CPU a message, a third of the SDK's cost): look them
    # up once for this client, which only ever calls one host. The SDK always sends its
    # own credentials, so ~/.netrc never applied.
    found = client.session.merge_environment_settings(base or "https://api.twilio.com", client.proxy, None, None,
                                                      None)
    client.proxy, client.session.verify = found["proxies"], found["verify"]
    client.session.trust_env = False
    return client
