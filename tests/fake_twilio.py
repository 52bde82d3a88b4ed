"""A local fake of Twilio's Messages API, driven through the real twilio SDK.

It answers `POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio (201 with a
message resource, or an error document with Twilio's code), records every request, and
sends signed status callbacks back to the app the way Twilio does.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from socketserver import StreamRequestHandler

from twilio.request_validator import RequestValidator


class FakeTwilio:
    def __init__(self, auth_token: str, account_sid: str):
        self.auth_token = auth_token
        self.account_sid = account_sid
        self.messages: list[dict] = []
        # Scripted failures for the next creates: (http status, twilio code, message).
        self.errors: list[tuple[int, int, str]] = []
        # Scripted failures by recipient ("To"), for every create to that number: concurrent
        # sends reach the server in any order, so "the next create" means nothing for them.
        self.fail_to: dict[str, tuple[int, int, str]] = {}
        # Seconds each create waits before answering (Twilio takes 100-300 ms); with the most
        # creates seen in progress at once.
        self.delay = 0.0
        self.max_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        fake = self

        class Handler(StreamRequestHandler):
            """HTTP/1.1 with keep-alive, as api.twilio.com does, parsed by hand.

            The benchmarks run this server beside the app on the same two cores: the
            standard library's BaseHTTPRequestHandler spent about 0.3 ms of CPU a request
            (headers through the email parser, the status line and each header written
            separately); this reads what the SDK sends and answers in one write.
            """

            # One write per response anyway; without this, Nagle's algorithm and the client's
            # delayed ACK could still add about 40 ms to a response on a kept-alive connection.
            disable_nagle_algorithm = True

            def handle(self):
                while self._one_request():
                    pass

            def _one_request(self) -> bool:
                line = self.rfile.readline(65537)
                if not line.strip():
                    return False
                method, path, _version = line.decode("latin-1").split(" ", 2)
                headers = {}
                while (header := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
                    name, _, value = header.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = self.rfile.read(int(headers.get("content-length") or 0))
                if method != "POST":
                    status, payload = 405, {"code": 20004, "message": "Method not allowed", "status": 405}
                else:
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
                    status, payload = fake._create(path, params, headers.get("authorization", ""))
                out = json.dumps(payload).encode()
                self.wfile.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (status, HTTPStatus(status).phrase.encode(), len(out), out))
                return headers.get("connection", "").lower() != "close"

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _create(self, path: str, params: dict, authorization: str):
        expected = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if path != expected:
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        if not authorization.startswith("Basic "):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        if self.delay:
            with self._lock:
                self._in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self._in_flight)
            time.sleep(self.delay)
            with self._lock:
                self._in_flight -= 1
        with self._lock:
            failure = self.fail_to.get(params.get("To", ""))
            if failure is None and self.errors:
                failure = self.errors.pop(0)
            if failure is not None:
                status, code, message = failure
                return status, {"code": code, "message": message, "status": status,
                                "more_info": f"https://www.twilio.com/docs/errors/{code}"}
            sid = "SM" + uuid.uuid4().hex
            message = {
                "sid": sid, "account_sid": self.account_sid, "to": params.get("To"), "body": params.get("Body"),
                "from": params.get("From"), "messaging_service_sid": params.get("MessagingServiceSid"),
                "status": "accepted" if params.get("MessagingServiceSid") else "queued",
                "status_callback": params.get("StatusCallback"), "num_segments": "1", "direction": "outbound-api",
                "date_created": "Thu, 26 Nov 2026 10:00:00 +0000", "api_version": "2010-04-01",
                "uri": f"{expected[:-5]}/{sid}.json",
            }
            self.messages.append(message)
        return 201, message

    def status_callback(self, message: dict, status: str, error_code: str | None = None,
                        url: str | None = None) -> tuple[str, dict, str]:
        """(url, params, signature) of the callback Twilio would send for this message."""
        url = url or message["status_callback"]
        params = {
            "MessageSid": message["sid"], "SmsSid": message["sid"], "AccountSid": self.account_sid,
            "MessageStatus": status, "SmsStatus": status, "To": message["to"], "ApiVersion": "2010-04-01",
        }
        if error_code:
            params["ErrorCode"] = error_code
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        return url, params, signature

    def send_status_callback(self, message: dict, status: str, error_code: str | None = None) -> int:
        """POST the signed callback to the URL the app gave (a live server in tests)."""
        url, params, signature = self.status_callback(message, status, error_code)
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(),
                                         headers={"X-Twilio-Signature": signature})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status


def message_sid(label: str) -> str:
    """A Twilio-shaped MessageSid (SM + 32 hex) for a test's short label; the same label, the same SID."""
    if re.fullmatch(r"(SM|MM)[0-9a-f]{32}", label):
        return label
    return "SM" + hashlib.md5(label.encode()).hexdigest()  # noqa: S324 (a name, not a secret)


def signed_post(client, url: str, params, auth_token: str, *, signature: str | None = None, headers=None,
                as_given: bool = False):
    """POST form params to the app as Twilio would, signed over the public URL.

    An inbound text's short MessageSid label becomes a Twilio-shaped SID and the account's
    AccountSid is added when missing, unless `as_given` (a test of what Twilio never sends).
    """
    from django.conf import settings

    if "MessageSid" in params and not as_given:
        params = dict(params) | {"MessageSid": message_sid(params["MessageSid"])}
        params.setdefault("AccountSid", settings.TWILIO_ACCOUNT_SID or "AC" + "0" * 32)
    full = settings.PUBLIC_BASE_URL + url
    sig = RequestValidator(auth_token).compute_signature(full, params) if signature is None else signature
    extra = {"HTTP_X_TWILIO_SIGNATURE": sig} if sig else {}
    return client.post(url, data=params, **extra, **(headers or {}))
