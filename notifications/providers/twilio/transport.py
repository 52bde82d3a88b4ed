"""Sending through Twilio's REST API (its SDK, with a kept-alive HTTP session)."""

from __future__ import annotations

from django.conf import settings
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from notifications.providers import Sent, Transport, TransportError
from notifications.providers.twilio import errors


class TwilioTransport(Transport):
    def __init__(self, http_client: TwilioHttpClient | None = None):
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
            http_client=http_client or _http_client(),
        )

    def send(self, *, to, body, status_callback):
        params = {"to": to, "body": body}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            params["messaging_service_sid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            params["from_"] = settings.TWILIO_FROM_NUMBER
        if status_callback:
            params["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**params)
        except TwilioRestException as exc:
            code = str(exc.code or exc.status)
            # 429 (rate limited) and 5xx are worth another try; 4xx with a Twilio code are not.
            retryable = not errors.is_permanent(code) and (exc.status == 429 or exc.status >= 500)
            raise TransportError(f"twilio {exc.status}: {exc.msg}", code=code, retryable=retryable,
                                 problem=errors.problem_of(code)) from exc
        except OSError as exc:  # connection refused, reset, timeout
            raise TransportError(f"twilio unreachable: {exc}", code="network", retryable=True) from exc
        return Sent(provider_sid=message.sid)


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
