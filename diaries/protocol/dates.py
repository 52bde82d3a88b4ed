"""How dates and times are written to a patient, in each language of the study: one set for every channel.

The web diary and the app write dates in full ("Monday, March 9, 2026"); a text message
writes them short ("Tue 3 Mar", "tomorrow at 5:00 PM": a text costs by the character).
Spelled here, not with strftime: %a and %b follow the server's C locale, which would put
"Tue" in a Spanish text or fail on a machine without es_ES.
"""

from __future__ import annotations

from datetime import date, datetime, time

LANGUAGES = ("en", "es")
WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
}


def language(lang: str | None) -> str:
    """The language itself when dates are written in it, else English."""
    return lang if lang in LANGUAGES else "en"


def format_date(d: date, lang: str) -> str:
    """"Monday, March 9, 2026" / "lunes, 9 de marzo de 2026"."""
    lang = language(lang)
    weekday, month = WEEKDAYS[lang][d.weekday()], MONTHS[lang][d.month - 1]
    if lang == "es":
        return f"{weekday}, {d.day} de {month} de {d.year}"
    return f"{weekday}, {month} {d.day}, {d.year}"


def format_short_date(d: date, lang: str) -> str:
    """"Mar 9" / "9 mar": for a chart's axis."""
    lang = language(lang)
    month = MONTHS[lang][d.month - 1][:3]
    return f"{d.day} {month}" if lang == "es" else f"{month} {d.day}"


def format_day(d: date, lang: str, *, this_year: int | None = None) -> str:
    """A compact date for tables: "Thu, Nov 26" / "jue, 26 nov", with the year when it is not this year."""
    lang = language(lang)
    day = f"{WEEKDAYS[lang][d.weekday()][:3]}, {format_short_date(d, lang)}"
    return day if d.year == this_year else f"{day} {d.year}"


def format_time(t: time | datetime, lang: str) -> str:
    """A local wall-clock time: "5:00 PM" in English, "17:00" in Spanish."""
    if language(lang) == "es":
        return f"{t.hour}:{t.minute:02d}"
    return f"{t.hour % 12 or 12}:{t.minute:02d} {'AM' if t.hour < 12 else 'PM'}"


def _at(moment: datetime | time) -> str:
    return "a la" if moment.hour == 1 else "a las"  # "a la 1:00", "a las 2:00"


def format_when(dt: datetime, lang: str) -> str:
    """A local date and time: "Monday, March 9, 2026 at 5:00 PM" / "lunes, 9 de marzo de 2026 a las 17:00"."""
    if language(lang) == "es":
        return f"{format_date(dt.date(), lang)} {_at(dt)} {format_time(dt, lang)}"
    return f"{format_date(dt.date(), lang)} at {format_time(dt, lang)}"


def sms_date(day: date, lang: str) -> str:
    """"Tue 3 Mar" / "mar 3 mar"."""
    lang = language(lang)
    return f"{WEEKDAYS[lang][day.weekday()][:3]} {day.day} {MONTHS[lang][day.month - 1][:3]}"


def sms_when(moment: datetime, today: date, lang: str) -> str:
    """"today at 5:00 PM" / "mañana a las 17:00" / "on Thu 5 Mar at 5:00 PM"."""
    lang = language(lang)
    day, clock = moment.date(), format_time(moment, lang)
    if lang == "en":
        if day == today:
            return f"today at {clock}"
        if (day - today).days == 1:
            return f"tomorrow at {clock}"
        return f"on {sms_date(day, lang)} at {clock}"
    if day == today:
        return f"hoy {_at(moment)} {clock}"
    if (day - today).days == 1:
        return f"mañana {_at(moment)} {clock}"
    return f"el {sms_date(day, lang)} {_at(moment)} {clock}"


def sms_day(day: date, today: date, lang: str) -> str:
    """"today" / "tomorrow, Tue 3 Mar" / "on Tue 3 Mar" (and Spanish)."""
    lang = language(lang)
    delta = (day - today).days
    today_word, tomorrow, on = ("today", "tomorrow", "on") if lang == "en" else ("hoy", "mañana", "el")
    if delta == 0:
        return today_word
    return f"{tomorrow}, {sms_date(day, lang)}" if delta == 1 else f"{on} {sms_date(day, lang)}"
