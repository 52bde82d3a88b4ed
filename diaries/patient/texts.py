"""The web diary's own words in English and Spanish, and dates and times written for each.

Kept here rather than in locale/*.po so the SMS texts and the web pages can be
translated independently; instrument texts come from the study configuration.
Patient-facing words name neither the diagnosis nor the study drug ("patches",
"study cream"). Dates are formatted here, not by the OS locale, so a server without
es_ES locales still writes "lunes, 9 de marzo de 2026".
"""

from __future__ import annotations

from datetime import date, datetime

LANGUAGES = ("en", "es")

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "program": "Skin Diary",
        "switch_language": "Español",
        "switch_language_code": "es",
        "switch_language_label": "Ver en español",
        "logout": "Log out",
        "home": "Home",
        "history": "My history",
        "skip_to_content": "Skip to content",
        "today_title": "Today's diary",
        "today_for": "Diary for {date}",
        "start_diary": "Start today's diary",
        "change_answers": "Change my answers",
        "already_done": "You already completed today's diary.",
        "can_change_until": "You can change your answers until {time}.",
        "window_closed": "The diary is closed right now.",
        "next_opens": "The next diary opens at {when}.",
        "window_hours": "The diary is open every evening from {opens} to {closes}.",
        "diary_starts": "Your diary starts on {date}.",
        "diary_closed": "Your diary is closed. Thank you for taking part.",
        "daily_ended": "The daily diary has ended. You can still tell us how your skin is.",
        "question_of": "Question {n} of {total}",
        "next": "Next",
        "back": "Back",
        "choose_answer": "Please choose an answer.",
        "review_title": "Check your answers",
        "review_intro": "Please check your answers before you send them.",
        "change": "Change",
        "change_item": "Change answer to question {n}",
        "submit": "Send my answers",
        "not_answered": "Not answered",
        "done_title": "Thank you",
        "done_saved": "Your answers for {date} are saved.",
        "done_corrected": "Your changed answers for {date} are saved. They replace your earlier answers.",
        "refused_title": "Your answers were not saved",
        "refused_closed": "The diary closed before your answers were sent.",
        "h12_title": "12-hour check",
        "h12_intro": "A short question, about 12 hours after your first study cream.",
        "h12_start": "Answer the 12-hour question",
        "h12_done": "You already answered the 12-hour question.",
        "h12_not_yet": "The 12-hour question opens at {when}.",
        "h12_closed": "The 12-hour question is closed.",
        "h12_saved": "Your 12-hour answer is saved.",
        "skin_title": "How is your skin?",
        "skin_intro": "Tell us when your skin is clear or when your patches come back.",
        "skin_clear": "My skin is clear",
        "skin_back": "My patches are back",
        "skin_clear_confirm": "Send \u201cmy skin is clear\u201d?",
        "skin_clear_explain": "Only send this when the patches you were treating are gone.",
        "send": "Send",
        "skin_clear_saved": "Thank you. Keep applying your study cream until {date}, then stop.",
        "skin_back_intro": "Please answer both questions.",
        "q_new_areas": "Are any patches in new areas?",
        "q_extensive": "Are any patches extensive (covering a large area)?",
        "yes": "Yes",
        "no": "No",
        "skin_back_saved": "Thank you. Start applying your study cream on the patches again.",
        "site_will_call": "Your study site will call you soon: {site}, {phone}.",
        "site_contact": "If you have questions, call your study site: {site}, {phone}.",
        "history_title": "My history",
        "history_empty": "No answers yet.",
        "chart_title": "My itch scores",
        "chart_desc": "Worst itch each day, from 0 (no itch) to 10, {first} to {last}.",
        "col_date": "Date",
        "col_itch": "Itch (0\u201310)",
        "col_sleep": "Sleep",
        "col_via": "Via",
        "sleep_answered": "{n} of 8 answered",
        "via_web": "web",
        "via_sms": "text message",
        "via_app": "app",
        "via_site": "study site",
        "events_title": "Skin reports",
        "event_cleared": "Skin clear",
        "event_recurred": "Patches back",
        "event_stopped": "Stopped treatment",
        "logged_out_title": "You are logged out",
        "logged_out": "This link can't be used again. To open your diary again, text LINK to your study number "
                      "and we will send you a new link.",
        "link_invalid_title": "This link doesn't work",
        "link_invalid": "This diary link is not valid.",
        "link_expired_title": "This link has expired",
        "link_expired": "Diary links work for {hours} hours.",
        "link_used_title": "This link was closed",
        "link_used": "This link was closed when you logged out.",
        "get_new_link": "To get a new link, text LINK to your study number.",
        "no_session_title": "Please open your diary link",
        "no_session": "Open the diary with the link we sent you by text message.",
        "tz_note": "Times are {city} time.",
        "step_itch": "Itch",
        "step_sleep": "Sleep",
        "error_title": "Something went wrong",
    },
    "es": {
        "program": "Diario de la piel",
        "switch_language": "English",
        "switch_language_code": "en",
        "switch_language_label": "View in English",
        "logout": "Cerrar sesión",
        "home": "Inicio",
        "history": "Mi historial",
        "skip_to_content": "Ir al contenido",
        "today_title": "Diario de hoy",
        "today_for": "Diario del {date}",
        "start_diary": "Empezar el diario de hoy",
        "change_answers": "Cambiar mis respuestas",
        "already_done": "Ya completó el diario de hoy.",
        "can_change_until": "Puede cambiar sus respuestas hasta las {time}.",
        "window_closed": "El diario está cerrado ahora.",
        "next_opens": "El próximo diario abre el {when}.",
        "window_hours": "El diario abre todas las tardes de {opens} a {closes}.",
        "diary_starts": "Su diario empieza el {date}.",
        "diary_closed": "Su diario está cerrado. Gracias por participar.",
        "daily_ended": "El diario de cada día ha terminado. Aún puede contarnos cómo está su piel.",
        "question_of": "Pregunta {n} de {total}",
        "next": "Siguiente",
        "back": "Atrás",
        "choose_answer": "Por favor, elija una respuesta.",
        "review_title": "Revise sus respuestas",
        "review_intro": "Por favor, revise sus respuestas antes de enviarlas.",
        "change": "Cambiar",
        "change_item": "Cambiar la respuesta a la pregunta {n}",
        "submit": "Enviar mis respuestas",
        "not_answered": "Sin responder",
        "done_title": "Gracias",
        "done_saved": "Sus respuestas del {date} están guardadas.",
        "done_corrected": "Sus respuestas cambiadas del {date} están guardadas. Reemplazan sus respuestas anteriores.",
        "refused_title": "Sus respuestas no se guardaron",
        "refused_closed": "El diario se cerró antes de que se enviaran sus respuestas.",
        "h12_title": "Control de las 12 horas",
        "h12_intro": "Una pregunta corta, unas 12 horas después de su primera aplicación de la crema del estudio.",
        "h12_start": "Responder la pregunta de las 12 horas",
        "h12_done": "Ya respondió la pregunta de las 12 horas.",
        "h12_not_yet": "La pregunta de las 12 horas abre el {when}.",
        "h12_closed": "La pregunta de las 12 horas está cerrada.",
        "h12_saved": "Su respuesta de las 12 horas está guardada.",
        "skin_title": "¿Cómo está su piel?",
        "skin_intro": "Avísenos cuando su piel esté limpia o cuando vuelvan las placas.",
        "skin_clear": "Mi piel está limpia",
        "skin_back": "Volvieron mis placas",
        "skin_clear_confirm": "¿Enviar \u201cmi piel está limpia\u201d?",
        "skin_clear_explain": "Envíelo solo cuando las placas que trataba hayan desaparecido.",
        "send": "Enviar",
        "skin_clear_saved": "Gracias. Siga aplicando la crema del estudio hasta el {date} y luego deje de usarla.",
        "skin_back_intro": "Por favor, responda las dos preguntas.",
        "q_new_areas": "¿Hay placas en zonas nuevas?",
        "q_extensive": "¿Hay placas extensas (que cubren una zona grande)?",
        "yes": "Sí",
        "no": "No",
        "skin_back_saved": "Gracias. Vuelva a aplicar la crema del estudio en las placas.",
        "site_will_call": "Su centro del estudio le llamará pronto: {site}, {phone}.",
        "site_contact": "Si tiene preguntas, llame a su centro del estudio: {site}, {phone}.",
        "history_title": "Mi historial",
        "history_empty": "Todavía no hay respuestas.",
        "chart_title": "Mis puntuaciones de picazón",
        "chart_desc": "La peor picazón de cada día, de 0 (sin picazón) a 10, del {first} al {last}.",
        "col_date": "Fecha",
        "col_itch": "Picazón (0\u201310)",
        "col_sleep": "Sueño",
        "col_via": "Vía",
        "sleep_answered": "{n} de 8 respondidas",
        "via_web": "web",
        "via_sms": "mensaje de texto",
        "via_app": "aplicación",
        "via_site": "centro del estudio",
        "events_title": "Informes de la piel",
        "event_cleared": "Piel limpia",
        "event_recurred": "Volvieron las placas",
        "event_stopped": "Dejó el tratamiento",
        "logged_out_title": "Cerró la sesión",
        "logged_out": "Este enlace ya no se puede usar. Para abrir su diario otra vez, envíe ENLACE por mensaje "
                      "de texto a su número del estudio y le enviaremos un enlace nuevo.",
        "link_invalid_title": "Este enlace no funciona",
        "link_invalid": "Este enlace al diario no es válido.",
        "link_expired_title": "Este enlace ha caducado",
        "link_expired": "Los enlaces al diario funcionan durante {hours} horas.",
        "link_used_title": "Este enlace se cerró",
        "link_used": "Este enlace se cerró cuando cerró la sesión.",
        "get_new_link": "Para recibir un enlace nuevo, envíe ENLACE por mensaje de texto a su número del estudio.",
        "no_session_title": "Abra el enlace de su diario",
        "no_session": "Abra el diario con el enlace que le enviamos por mensaje de texto.",
        "tz_note": "Las horas son de {city}.",
        "step_itch": "Picazón",
        "step_sleep": "Sueño",
        "error_title": "Algo salió mal",
    },
}

_MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
}
_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
}


def language_or_default(lang: str | None) -> str:
    return lang if lang in LANGUAGES else "en"


def texts(lang: str) -> dict[str, str]:
    return TEXTS[language_or_default(lang)]


def t(lang: str, key: str, **values) -> str:
    return texts(lang)[key].format(**values)


def format_date(d: date, lang: str) -> str:
    """"Monday, March 9, 2026" / "lunes, 9 de marzo de 2026"."""
    lang = language_or_default(lang)
    weekday, month = _WEEKDAYS[lang][d.weekday()], _MONTHS[lang][d.month - 1]
    if lang == "es":
        return f"{weekday}, {d.day} de {month} de {d.year}"
    return f"{weekday}, {month} {d.day}, {d.year}"


def format_short_date(d: date, lang: str) -> str:
    """"Mar 9" / "9 mar": for the chart's axis."""
    lang = language_or_default(lang)
    month = _MONTHS[lang][d.month - 1][:3]
    return f"{d.day} {month}" if lang == "es" else f"{month} {d.day}"


def format_day(d: date, lang: str, *, this_year: int | None = None) -> str:
    """A compact date for tables: "Thu, Nov 26" / "jue, 26 nov", with the year when it is not this year."""
    lang = language_or_default(lang)
    day = f"{_WEEKDAYS[lang][d.weekday()][:3]}, {format_short_date(d, lang)}"
    return day if d.year == this_year else f"{day} {d.year}"


def format_time(dt: datetime, lang: str) -> str:
    """A local wall-clock time: "5:00 PM" in English, "17:00" in Spanish."""
    if language_or_default(lang) == "es":
        return f"{dt.hour:02d}:{dt.minute:02d}"
    hour = dt.hour % 12 or 12
    return f"{hour}:{dt.minute:02d} {'AM' if dt.hour < 12 else 'PM'}"


def format_when(dt: datetime, lang: str) -> str:
    """A local date and time: "Monday, March 9, 2026 at 5:00 PM" / "lunes, 9 de marzo de 2026 a las 17:00"."""
    if language_or_default(lang) == "es":
        return f"{format_date(dt.date(), lang)} a las {format_time(dt, lang)}"
    return f"{format_date(dt.date(), lang)} at {format_time(dt, lang)}"


def city_of(zone: str) -> str:
    """"America/Chicago" -> "Chicago": what a patient recognises as their time."""
    return zone.rsplit("/", 1)[-1].replace("_", " ")
