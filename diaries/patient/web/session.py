"""Who is looking at the web diary: the session a signed link opened, its language, the page headers.

The participant lives only in the session, never in a URL. Every page is sent with a
strict Content-Security-Policy and is never cached.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from diaries.models import Participant
from diaries.patient.texts import LANGUAGES, city_of, language_or_default, t, texts
from diaries.patient.web import links
from diaries.protocol import windows
from diaries.protocol.dates import format_when

SESSION_PARTICIPANT = "diary_participant"
SESSION_LINK = "diary_link"
SESSION_LANG = "diary_lang"
SESSION_FLOWS = "diary_flows"
SESSION_DONE = "diary_done"

# No inline script or style anywhere: everything the page loads comes from this origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _secure(response: HttpResponse) -> HttpResponse:
    response["Content-Security-Policy"] = CSP
    # Diary pages hold health data: never kept by the browser or a shared proxy (back button included).
    add_never_cache_headers(response)
    response["Cache-Control"] = "no-store, no-cache, must-revalidate, private, max-age=0"
    # The link token must not leak to another site through Referer. Not "no-referrer": with it
    # Chrome sends `Origin: null` on form posts and Django's CSRF check refuses them.
    response["Referrer-Policy"] = "same-origin"
    response["X-Frame-Options"] = "DENY"
    return response


def secure_page(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        return _secure(view(request, *args, **kwargs))

    return wrapper


@dataclass
class Viewer:
    """Who is looking (a patient's sitting, not a clinic visit) and in which language, from the session only."""

    participant: Participant
    lang: str
    now: datetime

    @property
    def rules(self):
        return self.participant.study.rules

    def local(self, instant: datetime) -> datetime:
        return windows.local(instant, self.participant.zone)

    def when(self, instant: datetime) -> str:
        return format_when(self.local(instant), self.lang)


def language(request: HttpRequest, participant: Participant | None = None) -> str:
    chosen = request.session.get(SESSION_LANG)
    if chosen in LANGUAGES:
        return chosen
    return language_or_default(participant.language if participant else None)


def page(request, template: str, lang: str, status: int = 200, viewer: Viewer | None = None, **context):
    base = {"lang": lang, "T": texts(lang), "viewer": viewer, "participant": viewer.participant if viewer else None}
    if viewer is not None:
        site = viewer.participant.site
        base["tz_note"] = t(lang, "tz_note", city=city_of(viewer.participant.zone))
        base["site_contact"] = site_contact(lang, site.name, site.phone)
    base["next_path"] = request.get_full_path()
    return render(request, template, base | context, status=status)


def site_contact(lang: str, site: str, phone: str) -> str:
    """"call your study site: Lakeside, +1 312..." with the number a tappable tel: link."""
    link = format_html('<a href="tel:{}">{}</a>', re.sub(r"[^\d+]", "", phone), phone)
    return format_html(texts(lang)["site_contact"], site=site, phone=link)


def participant_view(view):
    """Only for a session opened by a valid link, still active (not logged out)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        pid, nonce = request.session.get(SESSION_PARTICIPANT), request.session.get(SESSION_LINK)
        participant = None
        if pid and nonce and links.is_active(nonce, pid):
            participant = Participant.objects.select_related("site", "study").filter(pk=pid).first()
        if participant is None:
            lang = language(request)
            return page(request, "diary/message.html", lang, status=403,
                         title=t(lang, "no_session_title"), lines=[t(lang, "no_session"), t(lang, "get_new_link")])
        viewer = Viewer(participant=participant, lang=language(request, participant), now=timezone.now())
        return view(request, viewer, *args, **kwargs)

    return secure_page(wrapper)
