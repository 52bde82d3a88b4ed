"""A local fake of Twilio's Messages API, driven through the real twilio SDK.

It answers `POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio (201 with a
message resource, or an error document with Twilio's code), records every request, and
sends signed status callbacks back to the app the way Twilio does. It also has what
Twilio does on its own: the message log (`GET .../Messages.json`, newest first, filtered
by To/From/DateSent and paged with `next_page_uri`) holding the texts patients sent,
ValidityPeriod and expiry of messages left in its queue, queue overflow (21611) above a
rate, status callbacks repeated and out of order, and Advanced Opt-Out's `OptOutType`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from socketserver import StreamRequestHandler

from twilio.request_validator import RequestValidator

from tests.fake_server import LocalServer


class FakeTwilio(LocalServer):
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
        # The account's message log: texts patients sent to us (add_inbound) beside the creates.
        self.inbound: list[dict] = []
        # Twilio's clock for DateSent and expiry (tests move it).
        self.clock = lambda: datetime.now(UTC)
        # Creates a second per sender above which the queue overflows (21611); None: never.
        self.overflow_above: int | None = None
        self._per_second: dict[tuple[str, int], int] = {}
        # time.time() of each create as it arrived (the pacing test reads them).
        self.received_at: list[float] = []
        self.list_requests: list[str] = []
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
                if method == "GET":
                    status, payload = fake._list(path, headers.get("authorization", ""))
                elif method != "POST":
                    status, payload = 405, {"code": 20004, "message": "Method not allowed", "status": 405}
                else:
                    params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
                    status, payload = fake._create(path, params, headers.get("authorization", ""))
                out = json.dumps(payload).encode()
                self.wfile.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (status, HTTPStatus(status).phrase.encode(), len(out), out))
                return headers.get("connection", "").lower() != "close"

        self._serve_with(ThreadingHTTPServer(("127.0.0.1", 0), Handler))

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
            arrived = time.time()
            self.received_at.append(arrived)
            failure = self.fail_to.get(params.get("To", ""))
            if failure is None and self.errors:
                failure = self.errors.pop(0)
            sender = params.get("MessagingServiceSid") or params.get("From") or ""
            second = (sender, int(arrived))
            self._per_second[second] = self._per_second.get(second, 0) + 1
            if failure is None and self.overflow_above is not None and self._per_second[second] > self.overflow_above:
                failure = (400, 21611, "This 'From' number has exceeded the maximum number of queued messages")
            if failure is not None:
                status, code, message = failure
                return status, {"code": code, "message": message, "status": status,
                                "more_info": f"https://www.twilio.com/docs/errors/{code}"}
            sid = "SM" + uuid.uuid4().hex
            now = self.clock()
            message = {
                "sid": sid, "account_sid": self.account_sid, "to": params.get("To"), "body": params.get("Body"),
                "from": params.get("From"), "messaging_service_sid": params.get("MessagingServiceSid"),
                "status": "accepted" if params.get("MessagingServiceSid") else "queued",
                "status_callback": params.get("StatusCallback"), "num_segments": "1", "direction": "outbound-api",
                "date_created": _rfc2822(now), "date_sent": _rfc2822(now), "api_version": "2010-04-01",
                "uri": f"{expected[:-5]}/{sid}.json", "error_code": None,
                "validity_period": params.get("ValidityPeriod"), "_at": now,
            }
            self.messages.append(message)
        return 201, _public(message)

    # The message log -----------------------------------------------------------------

    def add_inbound(self, *, sender: str, body: str, at: datetime, to: str = "+13125550100",
                    sid: str | None = None) -> dict:
        """A text a patient sent that reached Twilio (its webhook may or may not have reached us)."""
        sid = sid or "SM" + uuid.uuid4().hex
        message = {"sid": sid, "account_sid": self.account_sid, "from": sender, "to": to, "body": body,
                   "status": "received", "direction": "inbound", "num_media": "0", "num_segments": "1",
                   "date_created": _rfc2822(at), "date_sent": _rfc2822(at), "error_code": None,
                   "api_version": "2010-04-01", "_at": at}
        with self._lock:
            self.inbound.append(message)
        return message

    def _list(self, path: str, authorization: str):
        base, _, query = path.partition("?")
        if base != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return 404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
        if not authorization.startswith("Basic "):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        self.list_requests.append(path)
        after, before = _when(q.get("DateSent>")), _when(q.get("DateSent<"))
        with self._lock:
            found = [m for m in self.inbound + self.messages
                     if (not q.get("To") or m["to"] == q["To"]) and (not q.get("From") or m["from"] == q["From"])
                     and (after is None or m["_at"] >= after) and (before is None or m["_at"] < before)]
        found.sort(key=lambda m: m["_at"], reverse=True)  # newest first, as Twilio lists them
        size, page = int(q.get("PageSize") or 50), int(q.get("Page") or 0)
        # The page token is where the previous page ended (the last SID on it), as Twilio's
        # is: texts arriving while the log is read go on top and move no page's start.
        sids = [m["sid"] for m in found]
        after = q.get("PageToken", "")[2:]
        start = sids.index(after) + 1 if after in sids else page * size
        chunk = found[start:start + size]
        next_uri = None
        if start + size < len(found):
            rest = {**q, "Page": str(page + 1), "PageSize": str(size), "PageToken": "PA" + chunk[-1]["sid"]}
            next_uri = base + "?" + urllib.parse.urlencode(rest)
        return 200, {"messages": [_public(m) for m in chunk], "next_page_uri": next_uri, "page": page,
                     "page_size": size, "first_page_uri": base, "previous_page_uri": None, "start": start,
                     "end": start + len(chunk), "uri": path}

    # Twilio's queue: delivery, expiry, status callbacks ----------------------------------

    def set_status(self, message: dict, status: str, error_code: str | None = None) -> None:
        with self._lock:
            message["status"], message["error_code"] = status, int(error_code) if error_code else None

    def expire_overdue(self) -> list[dict]:
        """Messages still queued past their ValidityPeriod: failed by Twilio (30001-style), returned."""
        now, expired = self.clock(), []
        for message in self.messages:
            validity = int(message.get("validity_period") or 36_000)
            if message["status"] in ("queued", "accepted") and now >= message["_at"] + timedelta(seconds=validity):
                self.set_status(message, "failed", "30001")
                expired.append(message)
        return expired

    def callbacks_in_any_order(self, message: dict, statuses: list[str], *, repeats: int = 2,
                               seed: int = 0, error_code: str | None = None) -> list[tuple[str, dict, str]]:
        """The callbacks of these statuses, each `repeats` times, shuffled (Twilio promises no order)."""
        calls = [self.status_callback(message, s, error_code if s in ("failed", "undelivered") else None)
                 for s in statuses for _ in range(repeats)]
        random.Random(seed).shuffle(calls)
        return calls

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


def _rfc2822(at: datetime) -> str:
    """Twilio's dates: "Tue, 10 Mar 2026 03:50:00 +0000", whole seconds, UTC."""
    return format_datetime(at.astimezone(UTC).replace(microsecond=0))


def _public(message: dict) -> dict:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _when(value: str | None) -> datetime | None:
    """DateSent filters: a date (YYYY-MM-DD) or a datetime (YYYY-MM-DDTHH:MM:SSZ), UTC."""
    if not value:
        return None
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# Advanced Opt-Out: Twilio handles these itself when the whole body is the keyword, in any case.
OPT_OUT_KEYWORDS = {
    "STOP": {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "REVOKE", "OPTOUT", "CANCEL"},
    "START": {"START", "UNSTOP", "YES"},
    "HELP": {"HELP", "INFO"},
}


def inbound_params(*, sender: str, body: str, sid: str | None = None, advanced_opt_out: bool = False,
                   to: str = "+13125550100", account_sid: str = "AC" + "a" * 32, **extra) -> dict:
    """The form fields of Twilio's inbound-SMS webhook (with OptOutType under Advanced Opt-Out)."""
    params = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": account_sid, "From": sender, "To": to,
              "Body": body, "NumMedia": "0", **extra}
    if advanced_opt_out:
        for kind, words in OPT_OUT_KEYWORDS.items():
            if body.strip().upper() in words:
                params["OptOutType"] = kind
    return params


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
