"""Apple Push Notification service: the only module that talks to APNs.

Token-based auth: an ES256 JWT (header kid = the key id, claims iss = the team id, iat)
signed with the team's .p8 key. APNs refuses a token older than an hour (403
ExpiredProviderToken) and one replaced more often than every 20 minutes (429
TooManyProviderTokenUpdates), so one token is kept for 50 minutes.
Send: HTTP/2 only, `POST /3/device/<token>` with apns-push-type: alert, apns-topic (the
app's bundle id), apns-expiration (when to stop trying: the diary window's close) and
apns-collapse-id (a reminder replaces its prompt). The answer is 200 with an apns-id
header, or a status with {"reason": ...}.
Source: developer.apple.com "Sending notification requests to APNs", "Establishing a
token-based connection to APNs", "Handling notification responses from APNs".

Configuration (environment):
  APNS_TEAM_ID, APNS_KEY_ID    the team and the key's id from the developer account;
  APNS_AUTH_KEY_FILE           path of the AuthKey_<key id>.p8 file, or
  APNS_AUTH_KEY                its PEM text;
  APNS_TOPIC                   the app's bundle id;
  APNS_ENVIRONMENT             production (App Store and TestFlight builds) or sandbox (builds run from
                               Xcode): required, no default, since a token of one answers BadDeviceToken on
                               the other's host;
  APNS_API_BASE                optional, overrides the host (a local fake in tests);
  APNS_CA_FILE                 optional, CA bundle to verify the host (the fake's certificate).
"""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import certifi
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .. import push
from ..push import Push, PushConfigError, PushResult

HOSTS = {"production": "https://api.push.apple.com", "sandbox": "https://api.sandbox.push.apple.com"}
# Below APNs' one hour, and above its 20 minutes between two new tokens.
TOKEN_LIFETIME = 50 * 60
MAX_PAYLOAD = 4096
# The token no longer reaches the app: 410 Unregistered/ExpiredToken, 400 BadDeviceToken.
# BadDeviceToken is also what a development build's token gets from the production host (and
# the reverse): APNS_ENVIRONMENT must match the app's build, and a burst of it across devices is
# taken for that mistake, not for dead tokens (notifications/dead_tokens.py).
DEAD_TOKEN_REASONS = {"Unregistered", "ExpiredToken", "BadDeviceToken"}
TRANSIENT_REASONS = {"TooManyRequests", "TooManyProviderTokenUpdates", "InternalServerError",
                     "ServiceUnavailable", "Shutdown", "IdleTimeout"}


@dataclass(frozen=True)
class ApnsConfig:
    team_id: str
    key_id: str
    auth_key: str  # PEM of the .p8 key (EC P-256)
    topic: str
    api_base: str = HOSTS["production"]
    environment: str = "production"
    ca_file: str = ""
    timeout: float = 10.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ApnsConfig | None:
        """The configuration in the environment; None when APNs is not configured at all."""
        env = os.environ if environ is None else environ
        names = ("APNS_TEAM_ID", "APNS_KEY_ID", "APNS_TOPIC")
        key_text, key_file = env.get("APNS_AUTH_KEY", ""), env.get("APNS_AUTH_KEY_FILE", "")
        if not key_text and not key_file and not any(env.get(n) for n in names):
            return None
        missing = [n for n in names if not env.get(n)]
        if not key_text and not key_file:
            missing.append("APNS_AUTH_KEY_FILE (or APNS_AUTH_KEY)")
        if missing:
            raise PushConfigError(f"APNs is partly configured: set {', '.join(missing)}")
        if key_text and key_file:
            raise PushConfigError("set APNS_AUTH_KEY or APNS_AUTH_KEY_FILE, not both")
        if key_file:
            try:
                key_text = Path(key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise PushConfigError(f"APNS_AUTH_KEY_FILE ({key_file}): {exc}") from None
        environment = env.get("APNS_ENVIRONMENT", "")
        if environment not in HOSTS:
            raise PushConfigError(
                f"APNS_ENVIRONMENT: expected production (App Store and TestFlight builds) or sandbox (builds run "
                f"from Xcode), got {environment!r}; a token of the other kind answers BadDeviceToken")
        return cls(team_id=env["APNS_TEAM_ID"], key_id=env["APNS_KEY_ID"], auth_key=key_text,
                   topic=env["APNS_TOPIC"], api_base=(env.get("APNS_API_BASE") or HOSTS[environment]).rstrip("/"),
                   environment=environment, ca_file=env.get("APNS_CA_FILE", ""))


class ApnsTransport:
    """Sends pushes to APNs over one HTTP/2 connection; one instance per process is enough (thread-safe)."""

    def __init__(self, config: ApnsConfig, *, http: httpx.Client | None = None):
        self.config = config
        try:
            key = load_pem_private_key(config.auth_key.encode(), password=None)
        except ValueError as exc:
            raise PushConfigError(f"APNs auth key: not a PEM private key ({exc})") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise PushConfigError("APNs auth key: expected the P-256 (ES256) key of a .p8 file")
        self._key = key
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_issued_at = 0
        if http is None:
            verify = ssl.create_default_context(cafile=config.ca_file or certifi.where())
            # HTTP/2 only: APNs speaks nothing else, and ALPN then offers h2 alone.
            http = httpx.Client(base_url=config.api_base, http1=False, http2=True, verify=verify,
                                timeout=config.timeout)
        self._http = http

    def close(self) -> None:
        self._http.close()

    def provider_token(self) -> str:
        """The signed JWT for the authorization header, made anew every TOKEN_LIFETIME seconds."""
        with self._lock:
            now = int(time.time())
            # A clock moved backwards also gets a new token: APNs checks iat against its own clock.
            if self._token is None or not 0 <= now - self._token_issued_at < TOKEN_LIFETIME:
                self._token = jwt.encode({"iss": self.config.team_id, "iat": now}, self._key, algorithm="ES256",
                                         headers={"kid": self.config.key_id})
                self._token_issued_at = now
            return self._token

    def _forget_token(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def send(self, message: Push) -> PushResult:
        expiration = int(message.expires_at.timestamp())
        if expiration <= time.time():
            return push.permanent("expired", f"expired at {message.expires_at.isoformat()} before sending")
        payload = json.dumps(apns_payload(message), separators=(",", ":"), ensure_ascii=False).encode()
        if len(payload) > MAX_PAYLOAD:
            return push.permanent("PayloadTooLarge", f"payload of {len(payload)} bytes (APNs takes {MAX_PAYLOAD})")
        token = self.provider_token()
        headers = {
            "authorization": f"bearer {token}",
            "apns-push-type": "alert",
            "apns-topic": self.config.topic,
            "apns-expiration": str(expiration),
            "apns-collapse-id": message.collapse_id,
            "apns-priority": "10",  # shown at once (5 lets the device wait for a power-saving moment)
            "content-type": "application/json",
        }
        path = "/3/device/" + urllib.parse.quote(message.token, safe="")
        try:
            response = self._http.post(path, content=payload, headers=headers)
        except httpx.TransportError as exc:  # refused, reset, GOAWAY: the collapse id makes a repeat harmless
            return push.transient("network", f"apns unreachable: {type(exc).__name__}: {exc}")
        result = classify(response.status_code, response.content, response.headers.get("apns-id", ""),
                          response.headers.get("retry-after"))
        if result.code in ("ExpiredProviderToken", "InvalidProviderToken"):
            self._forget_token(token)
        return result


def apns_payload(message: Push) -> dict:
    """The JSON body: the visible alert under "aps", the deep link and data beside it."""
    return {
        "aps": {"alert": {"title": message.title, "body": message.body}, "sound": "default",
                "thread-id": message.collapse_id},
        **message.data,
        "link": message.link,
    }


def classify(status: int, content: bytes, apns_id: str = "", retry_after: str | None = None) -> PushResult:
    """An APNs answer as a PushResult."""
    if status == 200:
        return push.sent(apns_id)
    try:
        body = json.loads(content or b"{}")
    except ValueError:
        body = {}
    reason = str(body.get("reason", "")) if isinstance(body, dict) else ""
    code = reason or str(status)
    detail = f"apns {status} {reason}".strip()
    if reason in DEAD_TOKEN_REASONS or status == 410:
        return push.dead_token(code, detail)
    if reason in TRANSIENT_REASONS or status == 429 or status >= 500:
        return push.transient(code, detail, retry_after=push.retry_after_seconds(retry_after))
    if reason == "ExpiredProviderToken":
        return push.transient(code, detail)  # the caller signs a new token for the retry
    # BadTopic, DeviceTokenNotForTopic, InvalidProviderToken, BadCollapseId, PayloadTooLarge, ...:
    # a configuration or message problem, the same on every retry.
    return push.permanent(code, detail)
