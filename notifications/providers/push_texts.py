"""What a push notification says, in every study language, and where a tap takes the app.

A lock screen is public, more than an SMS inbox: anyone near the phone reads it. So a
push names no diagnosis, drug, score, arm, study or program, carries no number at all,
and says only that something is waiting in the app; the app shows the rest after the
patient unlocks it (and signs in). Instructions that name the treatment (the stop
prompt's "stop applying the study cream") stay inside the app for the same reason.

The deep link names a screen and a diary date, nothing about the patient:
  <scheme>://diary/<YYYY-MM-DD>?timepoint=DAILY   the evening diary (prompt and reminder)
  <scheme>://diary/<YYYY-MM-DD>?timepoint=H12     the 12-hour assessment
  <scheme>://reports                              lesion check-in, stop-treatment prompt
  <scheme>://today                                visit reminder
The scheme is the app's (DEFAULT_SCHEME unless the build registers another).
"""

from __future__ import annotations

from datetime import date, datetime

from .push import Push

DEFAULT_SCHEME = "eprp"

# kind -> (title, body); the kinds are notifications.models.PromptKind's values.
CATALOG: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "diary": ("Diary", "Your evening diary is open."),
        "reminder": ("Diary", "Reminder: your evening diary is still open."),
        "h12": ("Diary", "One extra question is waiting in your diary."),
        "visit_reminder": ("Visit", "Reminder: you have a visit coming up. Open the app for details."),
        "lesion_checkin": ("Check-in", "Your weekly check-in is open."),
        "stop_treatment": ("Diary", "A new message is waiting in the app."),
    },
    "es": {
        "diary": ("Diario", "Su diario de la noche está abierto."),
        "reminder": ("Diario", "Recordatorio: su diario de la noche sigue abierto."),
        "h12": ("Diario", "Una pregunta más le espera en su diario."),
        "visit_reminder": ("Visita", "Recordatorio: tiene una visita próximamente. Abra la aplicación para ver los "
                                     "detalles."),
        "lesion_checkin": ("Control", "Su control semanal está abierto."),
        "stop_treatment": ("Diario", "Tiene un mensaje nuevo en la aplicación."),
    },
}
DEFAULT_LANGUAGE = "en"
# The collapse id travels to Apple and Google beside the text, so it is as neutral as the
# text; a reminder replaces its own prompt on the device: both share one group.
COLLAPSE_GROUP = {"diary": "diary", "reminder": "diary", "h12": "extra", "visit_reminder": "visit",
                  "lesion_checkin": "checkin", "stop_treatment": "message"}


def text(kind: str, language: str) -> tuple[str, str]:
    """(title, body) of a push of this kind; a language without a catalog gets English."""
    return (CATALOG.get(language) or CATALOG[DEFAULT_LANGUAGE])[kind]


def deep_link(kind: str, diary_date: date | None, *, scheme: str = DEFAULT_SCHEME) -> str:
    if kind in ("diary", "reminder", "h12") and diary_date is not None:
        timepoint = "H12" if kind == "h12" else "DAILY"
        return f"{scheme}://diary/{diary_date.isoformat()}?timepoint={timepoint}"
    if kind in ("lesion_checkin", "stop_treatment"):
        return f"{scheme}://reports"
    return f"{scheme}://today"


def collapse_id(kind: str, slot: str) -> str:
    """The same for a prompt and its reminder (the reminder replaces it), at most 64 bytes (APNs)."""
    return f"{COLLAPSE_GROUP.get(kind, 'message')}-{slot}".encode()[:64].decode(errors="ignore")


def build_push(*, kind: str, language: str, token: str, slot: str, diary_date: date | None, expires_at: datetime,
               scheme: str = DEFAULT_SCHEME) -> Push:
    """The push for one scheduled prompt to one device; it expires when the prompt stops being useful.

    No data beside the link: the payload passes through Apple's or Google's servers, and
    the app reads what is pending from the patient API (`today`) once signed in.
    """
    title, body = text(kind, language)
    return Push(token=token, title=title, body=body, link=deep_link(kind, diary_date, scheme=scheme),
                collapse_id=collapse_id(kind, slot), expires_at=expires_at)
