"""The fake FCM and APNs servers of the tests, run by hand: the README's push walk-through.

    .venv/bin/python -m tests.fake_push_server [--dir var/fake-push] [--fcm-port 9470] [--apns-port 9471]
        [--fail-token TOKEN=CODE ...]

Makes a Firebase service-account key and an APNs team key in --dir (kept: a restart reuses
them, so the settings stay the same), starts tests/fake_push.py's FakeFCM and FakeAPNs on
the loopback ports, writes the environment that aims eprp at them to DIR/env and prints
it, then prints every push as it arrives, accepted or refused, until Ctrl-C. The servers
check what Google and Apple check (the OAuth2 assertion and bearer, the ES256 provider
token, HTTP/2 and the apns-* headers), so what they accept went through the real clients.

`--fail-token TOKEN=CODE` answers every push to that token with a provider error: an FCM
ErrorCode (UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, UNAVAILABLE, ...) for an
Android token, an APNs reason (Unregistered, BadDeviceToken, TooManyRequests, ...) for an
iOS one. `--retry-after S` goes with the 429 and 503 answers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.fake_push import FCM_ERRORS, FakeAPNs, FakeFCM

PROJECT, EMAIL = "eprp-demo", "push@eprp-demo.iam.gserviceaccount.com"
TEAM, KEY_ID, TOPIC = "DEMOTEAM01", "DEMOKEY001", "org.eprp.diary"
# APNs reasons a --fail-token may name, with the status APNs answers them with.
APNS_STATUS = {"BadDeviceToken": 400, "Unregistered": 410, "ExpiredToken": 410, "DeviceTokenNotForTopic": 400,
               "TooManyRequests": 429, "InternalServerError": 500, "ServiceUnavailable": 503}


def _pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def keys(directory: Path) -> tuple[Path, Path]:
    """(service account JSON, APNs .p8) in the directory, made once."""
    directory.mkdir(parents=True, exist_ok=True)
    account, p8 = directory / "service-account.json", directory / f"AuthKey_{KEY_ID}.p8"
    if not account.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        account.write_text(json.dumps({
            "type": "service_account", "project_id": PROJECT, "private_key_id": "demo", "client_email": EMAIL,
            "private_key": _pem(key).decode(), "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    if not p8.exists():
        p8.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    for path in (account, p8):
        path.chmod(0o600)
    return account, p8


def environment(fcm: FakeFCM, apns: FakeAPNs, account: Path, p8: Path) -> dict[str, str]:
    """What eprp needs to send through these servers with PUSH_BACKEND=providers."""
    return {
        "PUSH_BACKEND": "providers",
        "FCM_SERVICE_ACCOUNT_FILE": str(account.resolve()), "FCM_API_BASE": fcm.base_url,
        "FCM_TOKEN_URI": fcm.token_uri,
        "APNS_TEAM_ID": TEAM, "APNS_KEY_ID": KEY_ID, "APNS_AUTH_KEY_FILE": str(p8.resolve()), "APNS_TOPIC": TOPIC,
        "APNS_ENVIRONMENT": "sandbox", "APNS_API_BASE": apns.base_url, "APNS_CA_FILE": str(Path(apns.ca_file).resolve()),
    }


def describe_fcm(request: dict) -> str:
    try:
        message = json.loads(request["body"])["message"]
    except (ValueError, KeyError, TypeError):
        return f"[fcm {request['status']}] malformed request"
    shown = _token(message.get("token", ""))
    notification = message.get("notification") or {}
    line = (f"[fcm {request['status']}] to {shown}: {notification.get('title')}: {notification.get('body')} "
            f"link={(message.get('data') or {}).get('link')} ttl={(message.get('android') or {}).get('ttl')}")
    return line


def describe_apns(request: dict) -> str:
    headers, payload = request["headers"], request.get("payload") or {}
    alert = (payload.get("aps") or {}).get("alert") or {}
    expiration = headers.get("apns-expiration", "")
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(expiration))) if expiration.isdigit() else "-"
    answer = f"{request['status']}{' ' + request['reason'] if request['reason'] else ''}"
    return (f"[apns {answer}] to {_token(request['token'])}: {alert.get('title')}: {alert.get('body')} "
            f"link={payload.get('link')} expires={expires} collapse={headers.get('apns-collapse-id')}")


def _token(token: str) -> str:
    return token if len(token) <= 16 else f"{token[:8]}...{token[-4:]}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="var/fake-push", type=Path)
    parser.add_argument("--fcm-port", type=int, default=9470)
    parser.add_argument("--apns-port", type=int, default=9471)
    parser.add_argument("--fail-token", action="append", default=[], metavar="TOKEN=CODE")
    parser.add_argument("--retry-after", metavar="SECONDS")
    args = parser.parse_args(argv)
    account, p8 = keys(args.dir)
    info = json.loads(account.read_text())
    service_public = serialization.load_pem_private_key(info["private_key"].encode(), None).public_key()
    team_public = serialization.load_pem_private_key(p8.read_bytes(), None).public_key()
    fcm = FakeFCM(project_id=PROJECT, client_email=EMAIL, public_key=service_public, port=args.fcm_port)
    apns = FakeAPNs(team_id=TEAM, key_id=KEY_ID, public_key=team_public, topic=TOPIC, port=args.apns_port,
                    directory=args.dir)
    fcm.retry_after = apns.retry_after = args.retry_after
    for rule in args.fail_token:
        token, _, code = rule.partition("=")
        if code in FCM_ERRORS:
            fcm.fail_token[token] = code
        elif code in APNS_STATUS:
            apns.fail_token[token] = (APNS_STATUS[code], code)
        else:
            parser.error(f"--fail-token {rule}: {code!r} is neither an FCM ErrorCode ({', '.join(FCM_ERRORS)}) "
                         f"nor an APNs reason ({', '.join(APNS_STATUS)})")
    env = environment(fcm, apns, account, p8)
    env_file = args.dir / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    with fcm, apns:
        print(f"fake FCM at {fcm.base_url}, fake APNs at {apns.base_url} (HTTP/2, TLS)")
        print(f"eprp's settings for them, also in {env_file}:")
        for name, value in env.items():
            print(f"  {name}={value}")
        print(f"e.g.  set -a; . {env_file}; set +a; make run      Ctrl-C stops the fakes.", flush=True)
        seen_fcm = seen_apns = 0
        try:
            while True:
                time.sleep(0.2)
                for request in fcm.requests[seen_fcm:]:
                    print(describe_fcm(request), flush=True)
                    seen_fcm += 1
                for request in apns.requests[seen_apns:]:
                    print(describe_apns(request), flush=True)
                    seen_apns += 1
        except KeyboardInterrupt:
            print("fake push servers stopped")


if __name__ == "__main__":
    main()
