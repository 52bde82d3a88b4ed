"""Shared fixtures: the TRUE-AD study and the fixed personas of STYLE.md.

alice: participant at site A (101), America/Chicago.  bob: participant at site A, Europe/Warsaw.
charlie: staff user of site B (201), who must never see site A's data.
"""

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings as django_settings

STUDY_FILE = Path(django_settings.BASE_DIR) / "studies" / "true-ad.toml"
CHICAGO = ZoneInfo("America/Chicago")
WARSAW = ZoneInfo("Europe/Warsaw")


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.SMS_BACKEND = "locmem"
    settings.SMS_MAX_PER_SECOND = 0  # no pacing unless a test measures it
    settings.PUSH_BACKEND = "locmem"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.PUBLIC_BASE_URL = "https://eprp.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def rules():
    from diaries.protocol.study_config import parse_study_config

    return parse_study_config(STUDY_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def study(db):
    from diaries import studies

    study, _ = studies.load_study(text=STUDY_FILE.read_text(encoding="utf-8"), actor="system:test")
    return study


def enroll(study, usubjid, *, site="101", phone, zone, language="en", runin_start=date(2026, 3, 1),
           first_application_at=None, **kw):
    from diaries import participants

    return participants.enroll_participant(
        study=study, site_number=site, usubjid=usubjid, phone=phone, zone=zone, language=language,
        runin_start=runin_start, first_application_at=first_application_at, actor="system:test", **kw,
    )


@pytest.fixture
def alice(study):
    """Run-in from 2026-03-01, Day 1 on 2026-03-08 at 10:00 Chicago (the US spring-forward day)."""
    return enroll(study, "TRUE-AD-101-0001", phone="+13125550111", zone="America/Chicago",
                  first_application_at=datetime(2026, 3, 8, 10, 0, tzinfo=CHICAGO))


@pytest.fixture
def bob(study):
    """Site A, living in Warsaw, Spanish-speaking, still in run-in."""
    return enroll(study, "TRUE-AD-101-0002", phone="+48601555012", zone="Europe/Warsaw", language="es",
                  runin_start=date(2026, 3, 20))


@pytest.fixture
def charlie(study, django_user_model):
    """Staff of site B (201) only."""
    user = django_user_model.objects.create_user("charlie", "charlie@example.org", "charlie-password-1", is_staff=True)
    study.sites.get(number="201").staff.add(user)
    return user


@pytest.fixture
def tasks_inline():
    """Tasks run in this process as they are enqueued (after commit): for tests of what a change
    sets off. Tests marked `worker` run them on a real worker instead."""
    from eprp.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture
def celery_worker():
    """A real Celery worker (in-process thread) on the configured broker: Redis in CI, files locally."""
    from celery.contrib.testing.worker import start_worker

    from eprp.celery import app

    app.control.purge()  # nothing left over from an earlier run
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def answer(*, participant, instrument, answers, at=None, channel="sms", timepoint="DAILY", partial=True, locked=None):
    """One instrument through `submit_diary`, the door every channel uses; the current record.

    `partial` as the SMS path sends it (items added to the evening's record). A refusal
    fails the test: tests of refusals call `submit_diary` and look at the Refused.
    """
    from django.utils import timezone

    from diaries.diary import Recorded, submit_diary

    result = submit_diary(participant=participant, channel=channel, timepoint=timepoint,
                          answers={instrument: answers}, at=at or timezone.now(), partial=partial, locked=locked)
    assert isinstance(result, Recorded), f"refused: {result}"
    return result.records[0]


def report_treatment(*, participant, kind, channel="sms", at=None):
    """A clearance, recurrence or stop report through its use case; the event."""
    from django.utils import timezone

    from diaries import treatment

    report = {"cleared": treatment.report_clearance, "recurred": treatment.report_recurrence,
              "stopped": treatment.report_stop}[kind]
    return report(participant=participant, channel=channel, at=at or timezone.now()).event


def answer_spread(*, participant, new_or_extensive, channel="sms", at=None, **answers):
    from django.utils import timezone

    from diaries import treatment

    return treatment.answer_spread(participant=participant, channel=channel, at=at or timezone.now(),
                                   new_or_extensive=new_or_extensive, **answers).event


def write_diaries(participant, *, itch0: int, drop: int, days=range(-7, 15), day1=date(2026, 3, 8)):
    """Evening diaries at 20:00 Chicago: itch itch0 in run-in, itch0 - drop from Day 1; PROMIS all 3s
    (5 items every fifth evening, to exercise proration)."""
    from datetime import timedelta


    for offset in days:
        d = day1 + timedelta(days=offset)
        at = datetime(d.year, d.month, d.day, 20, 0, tzinfo=CHICAGO)
        itch = itch0 if offset < 0 else max(itch0 - drop, 0)
        answer(participant=participant, instrument="ITCH_NRS", answers={1: itch}, channel="sms",
                                at=at)
        answer(participant=participant, instrument="PROMIS_SD8B",
                                answers={i: 3 for i in range(1, 9 if offset % 5 else 6)}, channel="web",
                                at=at + timedelta(minutes=2))
