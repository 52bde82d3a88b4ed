"""Firebase Cloud Messaging (HTTP v1): the only module that talks to FCM.

Auth: a service account's key signs a JWT assertion that Google's token endpoint
trades for an OAuth2 access token (scope firebase.messaging, about an hour); google-auth
does the signing and the exchange, the token is kept until shortly before it expires
(google-auth's refresh threshold, 3 min 45 s) and then fetched again.
Send: `POST {api}/v1/projects/{project}/messages:send` with the token as a bearer.
Errors come back as a google.rpc.Status whose details carry an FcmError code
(UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL, ...).
Sources: firebase.google.com/docs/cloud-messaging/send/v1-api and the FCM v1
ErrorCode reference (/docs/reference/fcm/rest/v1/ErrorCode).

Configuration (environment):
  FCM_SERVICE_ACCOUNT_FILE   path of the service account JSON key, or
  FCM_SERVICE_ACCOUNT_JSON   the JSON itself (one of the two turns FCM on);
  FCM_PROJECT_ID             optional, defaults to the key's project_id;
  FCM_API_BASE               optional, default https://fcm.googleapis.com (a local fake in tests);
  FCM_TOKEN_URI              optional, overrides the key's token_uri (a local fake in tests).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import google.auth.exceptions
import httpx
import requests
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

from .. import push
from ..push import Push, PushConfigError, PushResult

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
DEFAULT_API_BASE = "https://fcm.googleapis.com"
# FCM keeps an undeliverable message at most four weeks.
MAX_TTL = 28 * 24 * 3600
# Retried by the outbox: rate limited, or FCM (or the APNs/Web push service behind it) unavailable.
TRANSIENT_CODES = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"}


@dataclass(frozen=True)
class FcmConfig:
    service_account: Mapping[str, str]
    project_id: str
    api_base: str = DEFAULT_API_BASE
    timeout: float = 10.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> FcmConfig | None:
        """The configuration in the environment; None when FCM is not configured at all."""
        env = os.environ if environ is None else environ
        raw, path = env.get("FCM_SERVICE_ACCOUNT_JSON", ""), env.get("FCM_SERVICE_ACCOUNT_FILE", "")
        if not raw and not path:
            return None
        if raw and path:
            raise PushConfigError("set FCM_SERVICE_ACCOUNT_JSON or FCM_SERVICE_ACCOUNT_FILE, not both")
        where = "FCM_SERVICE_ACCOUNT_JSON" if raw else f"FCM_SERVICE_ACCOUNT_FILE ({path})"
        try:
            info = json.loads(raw or Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PushConfigError(f"{where}: not a readable JSON service account key: {exc}") from None
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise PushConfigError(f"{where}: not a service account key (\"type\": \"service_account\")")
        if env.get("FCM_TOKEN_URI"):
            info["token_uri"] = env["FCM_TOKEN_URI"]
        missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
        if missing:
            raise PushConfigError(f"{where}: missing {', '.join(missing)}")
        project_id = env.get("FCM_PROJECT_ID") or info.get("project_id") or ""
        if not project_id:
            raise PushConfigError(f"{where} has no project_id: set FCM_PROJECT_ID")
        return cls(service_account=info, project_id=project_id,
                   api_base=(env.get("FCM_API_BASE") or DEFAULT_API_BASE).rstrip("/"))


class FcmTransport:
    """Sends pushes through FCM HTTP v1; one instance per process is enough (thread-safe)."""

    def __init__(self, config: FcmConfig, *, http: httpx.Client | None = None):
        self.config = config
        try:
            self._credentials = service_account.Credentials.from_service_account_info(
                dict(config.service_account), scopes=[SCOPE])
        except (ValueError, KeyError) as exc:
            raise PushConfigError(f"FCM service account key: {exc}") from None
        self._auth_request = _TokenRequest(requests.Session(), timeout=config.timeout)
        self._lock = threading.Lock()
        self._http = http or httpx.Client(http2=True, timeout=config.timeout)
        self._url = f"{config.api_base}/v1/projects/{config.project_id}/messages:send"

    def close(self) -> None:
        self._http.close()

    def access_token(self) -> str:
        """The cached OAuth2 access token, fetched again when it is about to expire."""
        with self._lock:
            # `valid` is False without a token and from 3 min 45 s before its expiry on.
            if not self._credentials.valid:
                self._credentials.refresh(self._auth_request)
            return self._credentials.token

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._credentials.token == token:
                self._credentials.token = None

    def send(self, message: Push) -> PushResult:
        ttl = int(message.expires_at.timestamp() - time.time())
        if ttl <= 0:
            return push.permanent("expired", f"expired at {message.expires_at.isoformat()} before sending")
        try:
            token = self.access_token()
        except google.auth.exceptions.TransportError as exc:
            return push.transient("auth-network", f"token endpoint unreachable: {exc}")
        except google.auth.exceptions.RefreshError as exc:
            # invalid_grant: a revoked or wrong key, or a server clock far off; retryable: Google's 5xx.
            if exc.retryable:
                return push.transient("auth", f"access token refused: {exc}")
            return push.permanent("auth", f"access token refused: {exc}")
        try:
            response = self._http.post(self._url, json=fcm_message(message, ttl),
                                       headers={"Authorization": f"Bearer {token}"})
        except httpx.TransportError as exc:  # refused, reset, timed out: the collapse id makes a repeat harmless
            return push.transient("network", f"fcm unreachable: {type(exc).__name__}: {exc}")
        result = classify(response.status_code, response.content, response.headers.get("retry-after"))
        if result.code == "UNAUTHENTICATED":
            self._forget_token(token)  # revoked or expired early: fetch a new one on the retry
        return result


class _TokenRequest(AuthRequest):
    """google-auth's requests transport with our timeout: its own default is 120 s, a send thread's eternity."""

    def __init__(self, session: requests.Session, *, timeout: float):
        super().__init__(session)
        self.timeout = timeout

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        return super().__call__(url, method=method, body=body, headers=headers, timeout=timeout or self.timeout,
                                **kwargs)


def fcm_message(message: Push, ttl: int) -> dict:
    """The v1 request body: the visible notification, the deep link as data, expiry and collapse per platform."""
    expiration = str(int(message.expires_at.timestamp()))
    return {"message": {
        "token": message.token,
        "notification": {"title": message.title, "body": message.body},
        "data": {**message.data, "link": message.link},  # FCM data values must be strings
        "android": {
            "ttl": f"{min(ttl, MAX_TTL)}s", "priority": "HIGH", "collapse_key": message.collapse_id,
            # The tag replaces a notification still shown with the same tag (the reminder over its prompt).
            "notification": {"tag": message.collapse_id},
        },
        # An iOS app registered through the Firebase SDK: FCM passes these headers on to APNs.
        "apns": {"headers": {"apns-push-type": "alert", "apns-expiration": expiration,
                             "apns-collapse-id": message.collapse_id}},
    }}


def classify(status: int, content: bytes, retry_after: str | None = None) -> PushResult:
    """An FCM v1 answer as a PushResult."""
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        body = {}
    if status == 200:
        return push.sent(str(body.get("name", "")))
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    details = [d for d in error.get("details") or [] if isinstance(d, dict)]
    code = next((d.get("errorCode") for d in details if d.get("@type", "").endswith("fcm.v1.FcmError")), None)
    code = code or error.get("status") or str(status)
    message = str(error.get("message", ""))
    detail = f"fcm {status} {code}: {message}".strip()
    # Only FCM's own word kills a token: a bare 404 can also be a wrong project or URL, and
    # deactivating every device for a configuration mistake cannot be undone by the site.
    # UNREGISTERED: the app instance is gone. INVALID_ARGUMENT is also what a malformed
    # message gets, but then with a google.rpc.BadRequest detail naming the field; a token
    # FCM does not accept comes with an FcmError detail and says so (FCM's error-code page).
    if code == "UNREGISTERED" or (
        code == "INVALID_ARGUMENT" and "registration token" in message
        and not any(d.get("@type", "").endswith("google.rpc.BadRequest") for d in details)
    ):
        return push.dead_token(code, detail)
    if code in TRANSIENT_CODES or status == 429 or status >= 500:
        return push.transient(code, detail, retry_after=push.retry_after_seconds(retry_after))
    if status == 401 and code == "UNAUTHENTICATED":
        return push.transient(code, detail)  # our access token: the caller fetches a new one
    # INVALID_ARGUMENT (a malformed message), SENDER_ID_MISMATCH (a token of another
    # project), THIRD_PARTY_AUTH_ERROR (the project's APNs key rejected): no retry fixes these.
    return push.permanent(code, detail)
