"""Signed, expiring web diary links: how a patient reaches /diary/ without a password.

A link is `PUBLIC_BASE_URL/diary/go/<token>/`. The token is a random nonce signed with
Django's TimestampSigner (SECRET_KEY, a salt of its own, the time it was made); the
nonce names a DiaryLink row, which names the participant, so the URL carries no
participant id. A token is refused when its signature is wrong (forged or mistyped),
older than DIARY_LINK_MAX_AGE seconds (24 h by default), or revoked: logging out
revokes the link, so a link left in a shared phone's messages cannot reopen the diary.
Until then, tapping the same link again simply reopens the diary (patients do that).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from diaries import audit
from diaries.models import DiaryLink, Participant

SALT = "eprp.diaries.links"
DEFAULT_MAX_AGE = 24 * 3600


class LinkError(Exception):
    """Why a link does not open the diary; `reason` picks the page the patient sees.

    `link` is the genuine link when the signature was good (expired or revoked), so the
    page can speak the participant's language; never for a forged token.
    """

    reason = "invalid"

    def __init__(self, message: str, link: DiaryLink | None = None):
        super().__init__(message)
        self.link = link


class ForgedLink(LinkError):
    reason = "invalid"


class ExpiredLink(LinkError):
    reason = "expired"


class RevokedLink(LinkError):
    reason = "used"


class _Signer(signing.TimestampSigner):
    """A TimestampSigner whose clock can be given, so a link can be dated `now`."""

    def __init__(self, *, at: datetime | None = None):
        super().__init__(salt=SALT)
        self._at = at

    def timestamp(self):
        seconds = self._at.timestamp() if self._at is not None else time.time()
        return signing.b62_encode(int(seconds))


def max_age() -> int:
    return int(getattr(settings, "DIARY_LINK_MAX_AGE", DEFAULT_MAX_AGE))


@transaction.atomic
def make_link(participant: Participant, *, now: datetime | None = None) -> str:
    """A new absolute diary link for this participant, valid for max_age() seconds from `now`."""
    now = now or timezone.now()
    # 72 random bits: uniqueness only; the signature is what makes a token unguessable.
    nonce = secrets.token_urlsafe(9)
    DiaryLink.objects.create(nonce=_stored(nonce), participant=participant, created_at=now)
    token = _Signer(at=now).sign(nonce)
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("diary:open", args=[token])


def _stored(nonce: str) -> str:
    """A link's nonce as the table keeps it: hashed, so no row spells a token's content."""
    return hashlib.sha256(nonce.encode()).hexdigest()[:32]


def token_of(link: str) -> str:
    """The secret part of a diary link (what is masked wherever the link is kept)."""
    return link.rstrip("/").rsplit("/", 1)[-1]


def verify(token: str) -> DiaryLink:
    """The link a token names, or LinkError (forged, expired, revoked)."""
    try:
        nonce = _Signer().unsign(token, max_age=max_age())
    except signing.SignatureExpired as exc:
        # Genuine but old: the signature itself is valid, so the nonce can be trusted.
        nonce = _Signer().unsign(token)
        old = DiaryLink.objects.select_related("participant").filter(nonce=_stored(nonce)).first()
        raise ExpiredLink(str(exc), link=old) from exc
    except signing.BadSignature as exc:
        raise ForgedLink(str(exc)) from exc
    link = (DiaryLink.objects.select_related("participant__site", "participant__study")
            .filter(nonce=_stored(nonce)).first())
    if link is None:
        # A valid signature over an unknown nonce: only possible with the secret key.
        raise ForgedLink("unknown link")
    if link.revoked_at is not None:
        raise RevokedLink("this link was closed by logging out", link=link)
    return link


@dataclass(frozen=True)
class Opened:
    link: DiaryLink
    participant: Participant


@transaction.atomic
def open_link(token: str) -> Opened:
    """Verify a token and record that the link was opened (audited: a login-relevant action)."""
    link = verify(token)
    link = DiaryLink.objects.select_for_update().get(pk=link.pk)
    if link.revoked_at is not None:  # logged out between verify and the lock
        raise RevokedLink("this link was closed by logging out", link=link)
    now = timezone.now()
    first = link.first_opened_at is None
    if first:
        link.first_opened_at = now
        link.save(update_fields=["first_opened_at"])
    audit.log(actor=link.participant, action="web.link_open", obj=link.participant,
              after={"link": link.pk, "first_open": first}, at=now)
    return Opened(link=link, participant=link.participant)


def is_active(nonce: str, participant_id: str) -> bool:
    """A session stays valid only while its link belongs to it and is not revoked."""
    return DiaryLink.objects.filter(
        nonce=nonce, participant_id=participant_id, revoked_at__isnull=True
    ).exists()


@transaction.atomic
def revoke(nonce: str, participant_id: str) -> bool:
    """Logout: the link can never open the diary again. True when it was active."""
    link = DiaryLink.objects.select_for_update().filter(nonce=nonce, participant_id=participant_id).first()
    if link is None or link.revoked_at is not None:
        return False
    link.revoked_at = timezone.now()
    link.save(update_fields=["revoked_at"])
    audit.log(actor=link.participant, action="web.logout", obj=link.participant, after={"link": link.pk})
    return True
