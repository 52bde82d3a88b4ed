"""Sending through Twilio's REST API (its SDK, with a kept-alive HTTP session)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.conf import settings
from requests.models import PreparedRequest
from requests.structures import CaseInsensitiveDict
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notifications.providers import Pause, Sent, Transport, TransportError
from notifications.providers.twilio import errors, pacing

log = logging.getLogger(__name__)

# Twilio's maximum (and default) ValidityPeriod: 10 hours.
MAX_VALIDITY = 36_000
# The headers the SDK's Messages resource sends with a create.
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
PAUSED_REASON = ("Not sent: sending is paused for the whole study because carriers refused every recent text "
                 "from the study's number; the study's operator has been told.")


class TwilioTransport(Transport):
    def __init__(self, http_client: TwilioHttpClient | None = None):
        self.client = Client(
            settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
            http_client=http_client or _http_client(),
        )
        self.messages_uri = f"/Accounts/{self.client.account_sid}/Messages.json"

    def send(self, *, to, body, status_callback, validity_period: int | None = None):
        # The form `messages.create` would post, posted through the SDK's API version (auth, URL,
        # errors as TwilioRestException): the resource layer above it spent about 0.1 ms of CPU
        # a message on thirty unset options and on parsing the whole answer for its SID.
        form = {"To": to}  # in the SDK's order
        if status_callback:
            form["StatusCallback"] = status_callback
        if validity_period:
            # Twilio drops a message still queued after this many seconds (1 to 36,000).
            form["ValidityPeriod"] = max(1, min(MAX_VALIDITY, int(validity_period)))
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            form["MessagingServiceSid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            form["From"] = settings.TWILIO_FROM_NUMBER
        form["Body"] = body
        if pacing.is_paused():
            raise TransportError("sender paused: carriers refused every recent message", code="paused",
                                 retryable=True, reason=PAUSED_REASON)
        api = self.client.api.v2010  # the SDK loads its API modules on first use: before our turn, not in it
        pacing.wait_for_turn()
        try:
            message = api.create("POST", self.messages_uri, data=form, headers=dict(FORM_HEADERS))
        except TwilioRestException as exc:
            code = str(exc.code or exc.status)
            policy = errors.policy_of(code, http_status=exc.status)
            raise TransportError(f"twilio {exc.status}: {exc.msg}", code=code, retryable=policy.retryable,
                                 problem=policy.problem, reason=policy.reason) from exc
        except OSError as exc:  # connection refused, reset, timeout
            raise TransportError(f"twilio unreachable: {exc}", code="network", retryable=True,
                                 reason=errors.SERVER_ERROR.reason) from exc
        return Sent(provider_sid=message.get("sid"))

    def record_sender_refused(self) -> None:
        if pacing.record_refused():
            log.error("sender %s paused: carriers refused every recent message", pacing.sender())

    def sending_paused(self) -> Pause | None:
        return pacing.paused()


class _HttpClient(TwilioHttpClient):
    """The SDK's HTTP client (its requests session, kept alive), each request prepared in one step.

    The SDK builds every request (URL, auth, headers, form) and reads every answer as it
    always does; only requests' `Session.request` is skipped, which for every message merged
    the session's settings into the request again and checked the form and the headers
    against typing Protocols at run time (about a dozen slow isinstance calls a message):
    about 0.1 ms of CPU a message, a tenth of a send. The session's settings are merged here once:
    its default headers under the SDK's, its cookies (Twilio sets none), and the proxies
    and CA bundle looked up once (requests otherwise reads the proxy variables, the CA
    bundle variable and ~/.netrc again for every request; the SDK always sends its own
    credentials, so ~/.netrc never applied). With `base` (TWILIO_API_BASE, a local fake
    Twilio server in tests) the requests go there instead of api.twilio.com.
    """

    def __init__(self, base: str = ""):
        super().__init__(timeout=10)
        self.base = base.rstrip("/")
        found = self.session.merge_environment_settings(self.base or "https://api.twilio.com", self.proxy, None,
                                                        None, None)
        self.proxy, self.session.verify = found["proxies"], found["verify"]
        self.session.trust_env = False
        self.send_settings = found  # proxies, verify, stream, cert: what Session.request passes on

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        if self.base:
            url = self.base + url.split(".twilio.com", 1)[-1]
        if headers and headers.get("Content-Type", "").endswith("json"):  # a JSON body: as the SDK sends it
            return super().request(method, url, params=params, data=data, headers=headers, auth=auth,
                                   timeout=timeout, allow_redirects=allow_redirects)
        if timeout is None:
            timeout = self.timeout
        elif timeout <= 0:
            raise ValueError(timeout)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request({"method": method.upper(), "url": url, "params": params, "headers": headers})
        self._test_only_last_response = None
        merged = CaseInsensitiveDict(self.session.headers)
        merged.update(headers or {})
        prepared = PreparedRequest()
        prepared.prepare(method=method.upper(), url=url, headers=merged, data=_encoded(data) or None,
                         params=_encoded(params), auth=auth, cookies=self.session.cookies, hooks=self.request_hooks)
        response = self.session.send(prepared, allow_redirects=allow_redirects, timeout=timeout,
                                     **self.send_settings)
        self.log_response(response.status_code, response)
        self._test_only_last_response = Response(int(response.status_code), response.text, response.headers)
        return self._test_only_last_response


def _encoded(values) -> str:
    """A form or a query string as requests encodes a dict: a list's values repeated, None left out."""
    pairs = []
    for key, value in (values or {}).items():
        for one in value if hasattr(value, "__iter__") and not isinstance(value, str | bytes) else [value]:
            if one is not None:
                pairs.append((key, one))
    return urlencode(pairs)


def _http_client():
    return _HttpClient(getattr(settings, "TWILIO_API_BASE", ""))
