"""The demo study: TRUE-AD with a handful of participants, so a newcomer's admin is not empty.

Phone numbers are fictional (555-01xx in North America; unassigned ranges in Europe) and
distinct from the sites' numbers in studies/true-ad.toml (555-0101, -0102, ...): the
participants take 555-0151 onwards, so a text from a site's number is never a patient's.
"""

from __future__ import annotations

import secrets
from datetime import time, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from diaries import participants, studies
from diaries.protocol import windows

from .models import Participant

STUDY_FILE = Path(settings.BASE_DIR) / "studies" / "true-ad.toml"

# (USUBJID, site, phone, zone, language, days since run-in start)
DEMO_PARTICIPANTS = [
    ("TRUE-AD-101-001", "101", "+13125550151", "America/Chicago", "en", 20),
    ("TRUE-AD-101-002", "101", "+13125550152", "America/Chicago", "es", 9),
    ("TRUE-AD-102-001", "102", "+16175550153", "America/New_York", "en", 3),
    ("TRUE-AD-201-001", "201", "+48601555011", "Europe/Warsaw", "en", 12),
    ("TRUE-AD-301-001", "301", "+34612555011", "Europe/Madrid", "es", 30),
]


@transaction.atomic
def load_demo(*, stdout=None) -> None:
    """Load the study and enroll the demo participants; safe to run again."""
    study, _ = studies.load_study(text=STUDY_FILE.read_text(encoding="utf-8"), actor="system:demo")
    today = timezone.now()
    for usubjid, site, phone, zone, language, days in DEMO_PARTICIPANTS:
        if Participant.objects.filter(study=study, usubjid=usubjid).exists():
            continue
        local_today = windows.local(today, zone).date()
        runin_start = local_today - timedelta(days=days)
        first = None
        if days >= 7:
            # Day 1 visit at 10:00 local, 7 days after run-in start.
            first = windows.wall_clock(runin_start + timedelta(days=7), time(10, 0), zone)
        participants.enroll_participant(
            study=study, site_number=site, usubjid=usubjid, phone=phone, zone=zone, language=language,
            runin_start=runin_start, first_application_at=first, actor="system:demo",
        )
    _ensure_admin(stdout)


def _ensure_admin(stdout) -> None:
    """An `admin` superuser with a random password kept in var/, printed once for the newcomer."""
    user_model = get_user_model()
    path = Path(settings.VAR_DIR) / "admin-password.txt"
    if user_model.objects.filter(username="admin").exists():
        if stdout and path.exists():
            stdout.write(f"admin login: admin / {path.read_text().strip()}")
        return
    password = secrets.token_urlsafe(12)
    user_model.objects.create_superuser("admin", "admin@localhost", password)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password)
    path.chmod(0o600)
    if stdout:
        stdout.write(f"admin login: admin / {password}  (kept in {path})")
