"""The production smoke test: the image's own script builds and starts eprp, then four requests answer 200.

    python tests/production/smoke.py --postgres postgres://postgres@127.0.0.1:5432 \\
        --database eprp_smoke --redis redis://127.0.0.1:6379/15

Without Docker, on the local PostgreSQL (trust authentication) and Redis, as in the
image: `deploy/eprp build` (collectstatic in production mode), `deploy/eprp migrate` as the
owner role (`<database>_owner`), then gunicorn (`deploy/eprp web`) and a Celery worker
(`deploy/eprp worker`) connected as the application's role (`<database>_app`, which owns
nothing). Twilio is the local fake (tests/fake_twilio.py) behind the real SDK. Then, like
a user behind the TLS proxy: sign in to the admin (password and a static OTP token,
`ADMIN_REQUIRE_2FA` is on), text LINK as an enrolled patient (a signed webhook), open the
diary link the worker texted back, fetch /api/schema/; then drop every database
connection, as a PostgreSQL restart does, and text again: still 200. The database and roles are made
fresh and dropped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import date
from http.cookies import SimpleCookie
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.fake_twilio import FakeTwilio  # noqa: E402

HOST = "eprp.smoke.test"
PUBLIC = f"https://{HOST}"
PHONE = "+13125550199"
ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = secrets.token_hex(16)


class SmokeFailure(Exception):
    pass


class Browser:
    """Requests to the local gunicorn as they arrive from the TLS proxy: Host and X-Forwarded-Proto set."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        sent = {"Host": HOST, "X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.20",
                "Origin": PUBLIC, "Referer": PUBLIC + path, **(headers or {})}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            content = response.read().decode("utf-8", "replace")
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response.status, response.headers, content

    def follow(self, path: str, hops: int = 5):
        """GET, following redirects within the site; the last response."""
        for _ in range(hops):
            status, headers, content = self.request("GET", path)
            if status not in (301, 302, 303):
                return status, headers, content
            location = urllib.parse.urlparse(headers["Location"])
            if location.netloc not in ("", HOST):
                raise SmokeFailure(f"redirect off the site: {headers['Location']}")
            path = location.path + (f"?{location.query}" if location.query else "")
        raise SmokeFailure(f"too many redirects from {path}")


def expect(what: str, status: int, wanted: int = 200, content: str = ""):
    print(f"  {what}: {status}")
    if status != wanted:
        raise SmokeFailure(f"{what}: expected {wanted}, got {status}\n{content[:2000]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd: list[str], env: dict, what: str):
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    print(f"== {what}: {time.monotonic() - started:.1f} s")
    if result.returncode != 0:
        raise SmokeFailure(f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def reset_database(admin_url: str, database: str, owner: str, app: str, *, create: bool):
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for role in (app, owner):
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
        if create:
            conn.execute(f'CREATE ROLE "{owner}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
            conn.execute(f'CREATE ROLE "{app}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT')
            conn.execute(f'CREATE DATABASE "{database}" OWNER "{owner}"')


def wait_for_health(port: int, procs: dict, logs: Path, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise SmokeFailure(f"{name} exited with {proc.returncode}:\n{(logs / f'{name}.log').read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/health/", headers={"Host": "127.0.0.1"})
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SmokeFailure("gunicorn did not answer /health/ in time")


def wait_for_text(fake: FakeTwilio, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in fake.messages:
            if message["to"] == PHONE and "/diary/go/" in (message["body"] or ""):
                return message["body"]
        time.sleep(0.2)
    raise SmokeFailure(f"no diary link was texted (messages: {len(fake.messages)})")


def csrf(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def check(browser: Browser, fake: FakeTwilio, password: str, token: str):
    print("== requests")
    # 1. The admin: the login page, password and OTP token, the index and a changelist.
    status, _, page = browser.request("GET", "/admin/login/?next=/admin/")
    expect("GET /admin/login/", status, content=page)
    form = {"username": "smoke", "password": password, "next": "/admin/"}
    # The password first: the form then offers the user's OTP devices to choose from.
    status, _, page = browser.request("POST", "/admin/login/?next=/admin/", form | {"csrfmiddlewaretoken": csrf(page)})
    device = re.search(r'<option value="(otp_static\.staticdevice/[^"]+)"', page)
    expect("POST /admin/login/ (password: the form asks for the token)", status, content=page)
    if device is None:
        raise SmokeFailure(f"the login form offers no OTP device:\n{page[-3000:]}")
    status, _, page = browser.request("POST", "/admin/login/?next=/admin/", form | {
        "csrfmiddlewaretoken": csrf(page), "otp_device": device.group(1), "otp_token": token})
    expect("POST /admin/login/ (password and token: signed in)", status, 302, page)
    status, _, page = browser.follow("/admin/")
    expect("GET /admin/", status, content=page)
    status, _, page = browser.follow("/admin/diaries/participant/")
    expect("GET /admin/diaries/participant/", status, content=page)
    if "SMOKE-0001" not in page:
        raise SmokeFailure("the participant list does not show the enrolled participant")

    # 2. A signed text from the patient, as Twilio posts it.
    status, _, reply = text(browser.port, "LINK")
    expect("POST /sms/twilio/inbound/ (signed LINK)", status, content=reply)
    patient = Browser(browser.port)

    # 3. The diary link the worker texted through (fake) Twilio, opened on the patient's phone.
    body = wait_for_text(fake)
    link = urllib.parse.urlparse(re.search(r"https://\S+/diary/go/\S+/", body).group(0))
    status, _, page = patient.follow(link.path)
    expect("GET the texted diary link -> /diary/", status, content=page)
    css = re.search(r'href="(/static/[^"]+\.css)"', page)
    if css is None or "diary" not in css.group(1):
        raise SmokeFailure("the diary page links no (hashed) diary stylesheet")
    status, _, _ = patient.request("GET", css.group(1))
    expect(f"GET {css.group(1)}", status)

    # 4. The API schema.
    status, _, page = browser.request("GET", "/api/schema/")
    expect("GET /api/schema/", status, content=page)


def text(port: int, body: str):
    params = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": ACCOUNT_SID, "From": PHONE,
              "To": "+13125550100", "Body": body, "NumMedia": "0"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/sms/twilio/inbound/", params)
    return Browser(port).request("POST", "/sms/twilio/inbound/", params, {"X-Twilio-Signature": signature})


def check_priorities(procs: dict) -> None:
    """The workers yield the CPU to the web: gunicorn at our own priority, Celery 10 lower."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    for name, expected in (("web", own), ("worker", min(19, own + 10))):
        niceness = os.getpriority(os.PRIO_PROCESS, procs[name].pid)
        if niceness != expected:
            raise SmokeFailure(f"deploy/eprp {name} runs at nice {niceness}, not {expected}")


def check_after_database_restart(port: int, admin_url: str, database: str, app: str, web_workers: int):
    """A PostgreSQL restart drops every kept connection: each gunicorn worker must still answer (health checks)."""
    for _ in range(2 * web_workers):  # every worker holds a connection
        text(port, "HELP")
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
        dropped = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = %s AND usename = %s", [database, app]).fetchone()[0]
    statuses = [text(port, "HELP")[0] for _ in range(3 * web_workers)]
    print(f"  {len(statuses)} signed texts after dropping {dropped} database connections: {statuses}")
    if dropped == 0 or set(statuses) != {200}:
        raise SmokeFailure("a text after the database dropped its connections was not answered 200")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="a superuser connection without the database name (creates the roles)")
    parser.add_argument("--database", default="eprp_smoke")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    owner, app = f"{args.database}_owner", f"{args.database}_app"
    where = urllib.parse.urlparse(args.postgres)
    server = f"{where.hostname}:{where.port or 5432}"
    port = free_port()
    password = secrets.token_urlsafe(18)
    token = f"{secrets.randbelow(10**6):06d}"
    started = time.monotonic()
    procs: dict[str, subprocess.Popen] = {}
    with tempfile.TemporaryDirectory(prefix="eprp-smoke-") as tmp, FakeTwilio(AUTH_TOKEN, ACCOUNT_SID) as fake:
        logs = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EPRP_", "DJANGO_"))} | {
            "EPRP_VENV": os.environ.get("EPRP_VENV", str(ROOT / ".venv")),
            "EPRP_VAR_DIR": str(logs / "var"),
            "EPRP_BIND": f"127.0.0.1:{port}",
            "WEB_WORKERS": "2",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
            "DATABASE_URL": f"postgres://{app}@{server}/{args.database}",
            "DATABASE_OWNER_URL": f"postgres://{owner}@{server}/{args.database}",
            "CELERY_BROKER_URL": args.redis,
            "PUBLIC_BASE_URL": PUBLIC,
            "ALLOWED_HOSTS": HOST,
            "NUM_PROXIES": "1",
            "SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": "MG" + "5" * 32,
            "TWILIO_API_BASE": fake.base_url,
            "EPRP_MODE": "production",
        }
        for name in ("CACHE_URL", "EMAIL_URL"):
            env.pop(name, None)
        reset_database(args.postgres, args.database, owner, app, create=True)
        try:
            run(["deploy/eprp", "build"], env, "deploy/eprp build")
            run(["deploy/eprp", "migrate"], env, "deploy/eprp migrate (as the owner role)")
            py = [env["EPRP_VENV"] + "/bin/python", "manage.py"]
            participants = logs / "participants.csv"
            participants.write_text("USUBJID,SITE,PHONE,TZ,LANGUAGE,RUNIN_START\n"
                                    f"SMOKE-0001,101,{PHONE},America/Chicago,en,{date.today().isoformat()}\n")
            # The operator's commands, in one process (each start of Django costs seconds).
            commands = [["load_study", "studies/true-ad.toml"], ["import_participants", str(participants)],
                        ["createsuperuser", "--noinput", "--username", "smoke", "--email", "smoke@example.org"],
                        ["addstatictoken", "smoke", "--token", token]]
            run([*py, "shell", "-c", "from django.core.management import call_command\n"
                 + "".join(f"call_command(*{c!r})\n" for c in commands)],
                env | {"DJANGO_SUPERUSER_PASSWORD": password},
                "load_study, import_participants, createsuperuser, addstatictoken (as the app role)")
            for name in ("web", "worker"):
                log = open(logs / f"{name}.log", "w")  # closed when the process ends
                procs[name] = subprocess.Popen(["deploy/eprp", name], cwd=ROOT, env=env, stdout=log,
                                               stderr=subprocess.STDOUT, start_new_session=True)
            wait_for_health(port, procs, logs)
            check_priorities(procs)
            check(Browser(port), fake, password, token)
            check_after_database_restart(port, args.postgres, args.database, app, web_workers=2)
        except SmokeFailure as failure:
            print(f"SMOKE TEST FAILED: {failure}")
            for name in procs:
                print(f"--- {name}.log (end)\n{(logs / f'{name}.log').read_text()[-4000:]}")
            return 1
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            reset_database(args.postgres, args.database, owner, app, create=False)
    print(f"production smoke test passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
