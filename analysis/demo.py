"""The analysis side of the demo: what a sponsor statistician sees on first start.

Every demo participant with a Day 1 is randomized (three arms), a statistician and a
sponsor API account exist with tokens (kept in var/, printed at each start), and one
unblinded export of the demo study is listed in /api/v1/exports/ for the statistician.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from diaries.models import Participant, Randomization, Study

from .accounts import create_api_account
from .export import FORMATS
from .export_jobs import request_export, work_export
from .models import Export
from .randomization import import_randomization

STATISTICIAN = "demo-statistician"
SPONSOR = "demo-sponsor"
TOKENS_FILE = "demo-api-tokens.txt"
DEMO_FORMATS = list(FORMATS)  # every format of the transfer


def randomize_demo(study: Study) -> int:
    """Randomize every participant with a Day 1 and no arm yet, cycling through the study's arms.

    The demo's own participants only: a real study is randomized by its IRT, never here.
    """
    statistician = _account(STATISTICIAN, "statistician")
    arms = list(study.rules.arms)
    waiting = (Participant.objects.filter(study=study, first_application_at__isnull=False)
               .exclude(pk__in=Randomization.objects.values("participant_id")).order_by("usubjid"))
    start = Randomization.objects.filter(participant__study=study).count()
    rows = [f"{p.usubjid},{arms[(start + i) % len(arms)]},IGA{2 + (start + i) % 2}" for i, p in enumerate(waiting)]
    if not rows:
        return 0
    return import_randomization(study=study, text="USUBJID,ARM,STRATUM\n" + "\n".join(rows) + "\n",
                                user=statistician)


def demo_accounts(stdout=None, addr: str = "127.0.0.1:8000") -> dict[str, str]:
    """The demo statistician and sponsor with their API tokens, written to var/ and printed."""
    path = Path(settings.VAR_DIR) / TOKENS_FILE
    tokens = {}
    for username, role in ((STATISTICIAN, "statistician"), (SPONSOR, "sponsor")):
        user = _account(username, role)
        tokens[username] = Token.objects.get_or_create(user=user, defaults={"key": secrets.token_hex(20)})[0].key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name} {key}\n" for name, key in tokens.items()))
    path.chmod(0o600)
    if stdout:
        stdout.write(f"API tokens (kept in {path}; manage them with `manage.py api_account`):")
        stdout.write(f"  unblinded statistician {STATISTICIAN}: {tokens[STATISTICIAN]}")
        stdout.write(f"  sponsor (blinded)      {SPONSOR}: {tokens[SPONSOR]}")
        stdout.write(f"  try: curl -H 'Authorization: Token {tokens[STATISTICIAN]}' http://{addr}/api/v1/exports/")
    return tokens


def demo_export(study: Study) -> Export | None:
    """One unblinded export of the demo study for the statistician, worked now; None if one exists."""
    statistician = _account(STATISTICIAN, "statistician")
    if Export.objects.filter(requested_by=statistician).exists():
        return None
    export = request_export(user=statistician, study=study, formats=DEMO_FORMATS, unblinded=True, dispatch=False)
    work_export(export.id)
    return Export.objects.get(pk=export.pk)


def _account(username: str, role: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        create_api_account(username=username, role=role, actor="system:demo")
        user = get_user_model().objects.get(username=username)
    return get_user_model().objects.get(pk=user.pk)  # fresh: no cached permissions
