"""Local fakes of FCM HTTP v1 (with Google's OAuth2 token endpoint) and APNs, for the real clients.

Both check what the real services check, so a client bug fails here as it would there:
FakeFCM verifies the service-account assertion (RS256, audience, scope, lifetime) before it
issues an access token, and refuses an unknown or expired bearer on messages:send; FakeAPNs
speaks only HTTP/2 over TLS (ALPN h2, a self-signed certificate made here), verifies the
ES256 provider token (kid, iss, no older than an hour, not renewed within 20 minutes on one
connection) and the apns-* headers. Each records every request; errors are scripted with
the services' own codes and shapes.
"""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import json
import socketserver
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.fake_server import LocalServer

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The audience Google requires in the assertion, whatever URL it was posted to.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"

# FCM's ErrorCode -> (HTTP status, google.rpc status, message), as FCM answers them.
FCM_ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Messages'"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}


class FakeFCM(LocalServer):
    """`POST /token` (OAuth2 JWT bearer grant) and `POST /v1/projects/{id}/messages:send`, HTTP/1.1."""

    def __init__(self, *, project_id: str, client_email: str, public_key, token_lifetime: int = 3600, port: int = 0):
        self.project_id = project_id
        self.client_email = client_email
        self.public_key = public_key
        self.token_lifetime = token_lifetime
        self.grants: list[dict] = []  # every access token issued: {"token", "claims", "expires"}
        self.messages: list[dict] = []  # every accepted send: {"message", "bearer", "name"}
        self.requests: list[dict] = []  # every send, accepted or not: {"path", "bearer", "body", "status"}
        # Scripted FCM ErrorCodes: for the next sends, and for every send to a token.
        self.errors: list[str] = []
        self.fail_token: dict[str, str] = {}
        self.retry_after: str | None = None  # sent with the 429 and 503 answers (QUOTA_EXCEEDED, UNAVAILABLE)
        self.token_delay = 0.0  # seconds the token endpoint waits before answering
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                path = urllib.parse.urlsplit(self.path).path
                if path == "/token":
                    status, payload, headers = fake._token(body)
                else:
                    status, payload, headers = fake._send(path, self.headers.get("authorization", ""), body)
                out = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json; charset=UTF-8", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except ConnectionError:
                    self.close_connection = True  # the client gave up waiting (token_delay)

            def log_message(self, *args):
                pass

        self._serve_with(http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler))

    @property
    def token_uri(self) -> str:
        return self.base_url + "/token"

    def _token(self, body: bytes):
        time.sleep(self.token_delay)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, {}
        try:
            claims = jwt.decode(form.get("assertion", ""), self.public_key, algorithms=["RS256"],
                                audience=GOOGLE_TOKEN_AUDIENCE, options={"require": ["iss", "aud", "iat", "exp"]})
        except jwt.InvalidTokenError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}, {}
        if claims["iss"] != self.client_email:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, {}
        if claims["exp"] - claims["iat"] > 3600:
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: lifetime over an hour"}, {}
        if FCM_SCOPE not in str(claims.get("scope", "")).split():
            return 400, {"error": "invalid_scope", "error_description": "scope firebase.messaging missing"}, {}
        token = "ya29.fake-" + uuid.uuid4().hex
        with self._lock:
            self._tokens[token] = time.time() + self.token_lifetime
            self.grants.append({"token": token, "claims": claims, "expires": self._tokens[token]})
        return 200, {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}, {}

    def _send(self, path: str, authorization: str, body: bytes):
        bearer = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else ""
        status, payload, headers = self._answer(path, bearer, body)
        with self._lock:
            self.requests.append({"path": path, "bearer": bearer, "body": body, "status": status})
        return status, payload, headers

    def _answer(self, path: str, bearer: str, body: bytes):
        if path != f"/v1/projects/{self.project_id}/messages:send":
            # A wrong project or path: a 404 without an FcmError, which must not look like a dead token.
            return 404, {"error": {"code": 404, "message": "Requested entity was not found.",
                                   "status": "NOT_FOUND"}}, {}
        expires = self._tokens.get(bearer)
        if expires is None or time.time() >= expires:
            return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED",
                                   "message": "Request had invalid authentication credentials."}}, {}
        try:
            message = json.loads(body)["message"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": {"code": 400, "message": "Invalid JSON payload received.",
                                   "status": "INVALID_ARGUMENT"}}, {}
        problem = _fcm_problem(message)
        if problem:
            field, description = problem
            # A malformed message: the detail is a BadRequest naming the field, not an FcmError.
            return 400, {"error": {"code": 400, "message": description, "status": "INVALID_ARGUMENT", "details": [
                {"@type": "type.googleapis.com/google.rpc.BadRequest",
                 "fieldViolations": [{"field": field, "description": description}]}]}}, {}
        with self._lock:
            code = self.fail_token.get(message["token"]) or (self.errors.pop(0) if self.errors else None)
            if code is None:
                name = f"projects/{self.project_id}/messages/0:{uuid.uuid4().hex}"
                self.messages.append({"message": message, "bearer": bearer, "name": name})
                return 200, {"name": name}, {}
        return self._error(code)

    def _error(self, code: str, message: str | None = None):
        status, rpc_status, default = FCM_ERRORS[code]
        headers = {"Retry-After": self.retry_after} if status in (429, 503) and self.retry_after else {}
        return status, {"error": {"code": status, "message": message or default, "status": rpc_status, "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}]}}, headers


def _fcm_problem(message: dict) -> tuple[str, str] | None:
    """(field, description) of what FCM's validation would refuse in this message, or None."""
    if not isinstance(message.get("token"), str) or not message["token"]:
        return "message", "Recipient of the message is not set."
    for i, value in enumerate((message.get("data") or {}).values()):
        if not isinstance(value, str):
            return f"message.data[{i}].value", f"Invalid value at 'message.data[{i}].value' (TYPE_STRING), {value}"
    ttl = (message.get("android") or {}).get("ttl", "0s")
    if not (isinstance(ttl, str) and ttl.endswith("s") and ttl[:-1].replace(".", "", 1).isdigit()):
        return "message.android.ttl", "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration)"
    return None


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1 and localhost; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-apns.test")])
    # Fixed, wide validity: OpenSSL checks it against the real clock, which tests move with time_machine.
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime(2000, 1, 1, tzinfo=dt.UTC)).not_valid_after(dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake-apns.crt", directory / "fake-apns.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


PUSH_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm", "liveactivity",
              "pushtotalk"}


class FakeAPNs(LocalServer):
    """`POST /3/device/<token>` over HTTP/2 and TLS, answering as APNs does."""

    scheme = "https"

    def __init__(self, *, team_id: str, key_id: str, public_key, topic: str, port: int = 0,
                 directory: Path | None = None):
        self.team_id, self.key_id, self.public_key, self.topic = team_id, key_id, public_key, topic
        self.requests: list[dict] = []  # every request: {"token", "headers", "payload", "claims", "status", "reason"}
        self.connections = 0  # TLS connections that agreed on h2
        self.refused_alpn = 0  # connections that offered no h2 (closed at once)
        # Scripted (status, reason) for the next sends, and for every send to a token.
        self.errors: list[tuple[int, str]] = []
        self.fail_token: dict[str, tuple[int, str]] = {}
        self.retry_after: str | None = None  # sent with 429 and 503
        self._lock = threading.Lock()
        # The certificate's directory: a temporary one, or one that outlives the run (python -m tests.fake_push).
        self._dir = tempfile.TemporaryDirectory(prefix="fake-apns-") if directory is None else None
        self.ca_file, key_file = self_signed_certificate(directory or Path(self._dir.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        context.set_alpn_protocols(["h2"])
        self._sockets: set = set()
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                try:
                    tls = context.wrap_socket(self.request, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                with fake._lock:
                    fake._sockets.add(tls)
                try:
                    fake._serve_connection(tls)
                finally:
                    with fake._lock:
                        fake._sockets.discard(tls)
                    tls.close()

        self._serve_with(socketserver.ThreadingTCPServer(("127.0.0.1", port), Handler))

    def __exit__(self, *exc):
        super().__exit__(*exc)
        # Connections the client keeps open would otherwise hold their threads until it closes them.
        with self._lock:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(2)
                except OSError:
                    pass
        if self._dir is not None:
            self._dir.cleanup()

    def _serve_connection(self, tls: ssl.SSLSocket) -> None:
        if tls.selected_alpn_protocol() != "h2":
            with self._lock:
                self.refused_alpn += 1
            return
        with self._lock:
            self.connections += 1
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        tls.sendall(conn.data_to_send())
        streams: dict[int, tuple[dict, bytearray]] = {}
        provider: dict = {}  # the provider token last accepted on this connection, and its iat
        while True:
            try:
                data = tls.recv(65535)
            except OSError:
                return
            if not data:
                return
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                return
            for event in events:
                if isinstance(event, h2.events.RequestReceived):
                    streams[event.stream_id] = (dict(event.headers), bytearray())
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id][1].extend(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    headers, body = streams.pop(event.stream_id)
                    status, extra, reply = self._answer(headers, bytes(body), provider)
                    conn.send_headers(event.stream_id, [(":status", str(status)), *extra,
                                                        ("content-length", str(len(reply)))], end_stream=not reply)
                    if reply:
                        conn.send_data(event.stream_id, reply, end_stream=True)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    tls.sendall(conn.data_to_send())
                    return
            out = conn.data_to_send()
            if out:
                tls.sendall(out)

    def _answer(self, headers: dict, body: bytes, provider: dict) -> tuple[int, list, bytes]:
        token = headers.get(":path", "").removeprefix("/3/device/")
        record = {"token": token, "headers": headers, "payload": None, "claims": None}
        status, reason = self._check(headers, body, token, provider, record)
        if status == 200:
            with self._lock:
                status, reason = self.fail_token.get(token) or (self.errors.pop(0) if self.errors else (200, ""))
        record.update(status=status, reason=reason)
        with self._lock:
            self.requests.append(record)
        if status == 200:
            apns_id = str(uuid.uuid4()).upper()
            record["apns_id"] = apns_id
            return 200, [("apns-id", apns_id), ("apns-unique-id", str(uuid.uuid4()))], b""
        error = {"reason": reason}
        if status == 410:
            error["timestamp"] = int(time.time() * 1000)
        extra = [("apns-id", str(uuid.uuid4()).upper()), ("content-type", "application/json")]
        if status in (429, 503) and self.retry_after:
            extra.append(("retry-after", self.retry_after))
        return status, extra, json.dumps(error).encode()

    def _check(self, headers: dict, body: bytes, token: str, provider: dict, record: dict) -> tuple[int, str]:
        """What APNs itself would refuse, in its order: path, auth, headers, payload."""
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed"
        if not headers.get(":path", "").startswith("/3/device/"):
            return 404, "BadPath"
        if not token:
            return 400, "MissingDeviceToken"
        authorization = headers.get("authorization", "")
        if not authorization.startswith("bearer "):
            return 403, "MissingProviderToken"
        bearer = authorization[len("bearer "):]
        try:
            header = jwt.get_unverified_header(bearer)
            claims = jwt.decode(bearer, self.public_key, algorithms=["ES256"], options={"require": ["iss", "iat"],
                                                                                     "verify_iat": False})
        except jwt.InvalidTokenError:
            return 403, "InvalidProviderToken"
        record["claims"], record["jwt_header"] = claims, header
        if header.get("kid") != self.key_id or claims["iss"] != self.team_id:
            return 403, "InvalidProviderToken"
        if time.time() - claims["iat"] > 3600:
            return 403, "ExpiredProviderToken"
        if provider.get("token") not in (None, bearer) and claims["iat"] - provider["iat"] < 20 * 60:
            return 429, "TooManyProviderTokenUpdates"
        provider.update(token=bearer, iat=claims["iat"])
        if not all(c in "0123456789abcdefABCDEF" for c in token) or len(token) < 64:
            return 400, "BadDeviceToken"
        if "apns-topic" not in headers:
            return 400, "MissingTopic"
        if headers["apns-topic"] != self.topic:
            return 400, "DeviceTokenNotForTopic"
        if headers.get("apns-push-type", "alert") not in PUSH_TYPES:
            return 400, "InvalidPushType"
        if not headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return 400, "BadCollapseId"
        if headers.get("apns-priority", "10") not in ("1", "5", "10"):
            return 400, "BadPriority"
        if not body:
            return 400, "PayloadEmpty"
        if len(body) > 4096:
            return 413, "PayloadTooLarge"
        try:
            record["payload"] = json.loads(body)
        except ValueError:
            return 400, "BadPayload"
        return 200, ""
