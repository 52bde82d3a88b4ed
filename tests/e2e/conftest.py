"""Real-browser tests of the patient web diary: Playwright driving Debian's Chromium on a phone viewport.

No `playwright install`: the browser is the system's /usr/bin/chromium (`apt-get install
chromium`). The tests skip, saying why, only when that executable is missing.

The live server runs on the real clock, so each test picks a participant time zone in
which the diary window is open (or closed) right now.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

# Playwright's sync API runs an event loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is safe (it is: the loop is Playwright's).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("EPRP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PHONE = {"width": 360, "height": 740}
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

# One city per UTC offset from -11 to +14, so some zone is always inside (or outside) the window.
ZONES = [
    "Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
    "America/Chicago", "America/New_York", "America/Halifax", "America/Sao_Paulo", "Atlantic/South_Georgia",
    "Atlantic/Cape_Verde", "Africa/Abidjan", "Africa/Lagos", "Africa/Johannesburg", "Europe/Moscow",
    "Asia/Dubai", "Asia/Karachi", "Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo",
    "Australia/Brisbane", "Pacific/Noumea", "Pacific/Auckland", "Pacific/Tongatapu", "Pacific/Kiritimati",
]


def zone_where_local_time_is(target_hour: float, *, earliest: float, latest: float) -> str:
    """The zone whose wall clock now is closest to target_hour, within [earliest, latest) local hours.

    Hours past midnight count as 24+ when earliest > latest is meant to wrap (17:00..02:30).
    """
    now = datetime.now(UTC)
    best = None
    for zone in ZONES:
        local = now.astimezone(ZoneInfo(zone))
        hour = local.hour + local.minute / 60
        if earliest > latest and hour < latest:
            hour += 24
        upper = latest + 24 if earliest > latest else latest
        if earliest <= hour < upper:
            distance = abs(hour - target_hour)
            if best is None or distance < best[0]:
                best = (distance, zone)
    if best is None:
        raise RuntimeError(f"no zone has a local time in [{earliest}, {latest}) now ({now:%H:%M} UTC)")
    return best[1]


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class Phone:
    """A fresh browser context sized like a phone; collects CSP violations and page errors."""

    def __init__(self, browser, base_url: str, *, locale: str = "en-US"):
        self.context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                           locale=locale, base_url=base_url)
        # An init script is not subject to the page's CSP, so axe can be present without weakening it.
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _console(self, message):
        # Chrome logs every 4xx page as a failed resource; the tests assert those statuses themselves.
        if message.text.startswith("Failed to load resource: the server responded with a status of 4"):
            return
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text}")

    def close(self):
        self.context.close()


@pytest.fixture
def phone(browser, live_server):
    opened: list[Phone] = []

    def make(**kwargs) -> Phone:
        p = Phone(browser, live_server.url, **kwargs)
        opened.append(p)
        return p

    yield make
    for p in opened:
        p.close()
    problems = [problem for p in opened for problem in p.problems]
    assert not problems, "the browser reported problems:\n" + "\n".join(problems)


@pytest.fixture(autouse=True)
def _links_point_at_the_live_server(settings, live_server):
    settings.PUBLIC_BASE_URL = live_server.url


@pytest.fixture
def participant_factory(study):
    """Enroll a run-in participant living in a given zone, diary started a few days ago."""
    from tests.conftest import enroll

    counter = iter(range(1, 100))

    def make(zone: str, *, language: str = "en", phase: str | None = None, first_application_at=None):
        n = next(counter)
        local_today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
        return enroll(study, f"E2E-{n:04d}", phone=f"+1312555{150 + n:04d}", zone=zone, language=language,
                      runin_start=local_today - timedelta(days=3), phase=phase,
                      first_application_at=first_application_at)

    return make


def screenshot(page, name: str):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
