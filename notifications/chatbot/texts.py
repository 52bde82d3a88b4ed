"""The chatbot's SMS texts in every study language, and the dates and times inside them.

A plain catalog dict rather than Django's gettext, on purpose:
- the chatbot stays a pure function: no active-language thread-local to set and
  restore, no settings needed to render a text;
- a missing Spanish text is a failing test (both catalogs must have the same keys
  and placeholders), not a silent fall-back to English on a patient's phone;
- no compiled .mo binary to keep in step with its .po in git;
- the tests can enumerate every text in both languages to scan for forbidden words
  and, in English, for characters outside GSM-7.
Instrument questions and option labels are not here: they come from the study
configuration (validated texts belong to the study, not to the code), and an item is
asked in the words of diaries.protocol.sms.item_text, which the study loader checks too.

Rules for every text (DOMAIN.md "SMS rules"; DESIGN.md "The chatbot"):
- no diagnosis and no drug name (a phone screen is not private): "study cream",
  "patches", "skin"; never the condition, the molecule, or the arms;
- English in GSM-7 only: a single curly quote or ellipsis switches the whole message to
  UCS-2, 70 characters a segment instead of 160, and it costs twice the money;
- every text fits its budget (diaries/protocol/sms.py): one 160-character segment in
  English; Spanish needs accents outside GSM-7 (a, i, o, u with acute), so its texts are
  UCS-2 and take two segments at most (134 characters).
"""

from __future__ import annotations

CATALOG: dict[str, dict[str, str]] = {
    "en": {
        "opt_out": "{program}: you are opted out and will get no more messages. Reply START to resume.",
        "opt_in": (
            "{program}: you are signed up for study diary texts, about 1-2 msgs/day. "
            "Msg & data rates may apply. Reply HELP for help, STOP to opt out."
        ),
        "help": (
            "{program}: about 1-2 msgs/day. Help: {site} {phone}{hours}. "
            "Msg & data rates may apply. Reply STOP to opt out."
        ),
        "link": "Your diary link: {link}",
        "link_follows": "Your diary link will follow in a moment.",
        "ended": "Thank you for taking part. Study texts have ended. Questions? Call {site} at {phone}.",
        "not_understood": "Sorry, I did not understand. Reply HELP for help.",
        "idle_limit": (
            "Sorry, I did not understand. For help call {site} at {phone}. "
            "I will not reply to more texts like this until your next diary."
        ),
        "media": "Sorry, I can only read text. Please reply with a text message.",
        "outside_window": "The diary is closed now. Your next diary opens {when}.",
        "no_diary": "There is no daily diary now. Reply FLARE if patches come back or CLEAR when your skin is clear.",
        "diary_prompt": "{program}, diary for {date}:",
        "reminder": "Reminder, {date} until {closes}:",
        "unfinished": "{left} of {n} sleep questions left:",
        "itch_reask": "Please reply with one number from {lo} ({low}) to {hi} ({high}).",
        "itch_out_of_range": (
            "That is not on the scale. Please reply with one number from {lo} ({low}) to {hi} ({high})."
        ),
        "itch_saved": "Itch {itch} saved.",
        "promis_reask": "Please reply with one number: {options}. Or send all {n} answers at once.",
        "promis_out_of_range": "That is not one of the answers. Please reply {options}.",
        "promis_all_out_of_range": "Each of the {n} answers must be a number from 1 to {max}. Please try again.",
        "thanks": "Thank you! Saved for {date}: itch {itch}; sleep {sleep}. To fix it, reply CHANGE by {closes}.",
        "itch_changed": "Changed: itch is now {itch} for {date}. Thank you!",
        "confirm_itch": "You already sent itch {old} for {date}. Change it to {new}? Reply YES or NO.",
        "confirm_sleep": "You already sent sleep {old} for {date}. Change it to {new}? Reply YES or NO.",
        "kept": "OK, nothing changed for {date}.",
        "sleep_changed": "Changed: sleep is now {sleep} for {date}. Thank you!",
        "repeat": "You already sent that for {date}: nothing changed. To change your answers, reply CHANGE.",
        "complete": "Your diary for {date} is complete. To change your answers, reply CHANGE.",
        "redo": "OK, starting again for {date}.",
        "gave_up_diary": (
            "Sorry, I could not read your answer. Reply with a number when ready, or call {site} at {phone}."
        ),
        "gave_up": "Sorry, I could not read your answer. For help call {site} at {phone}.",
        "h12_prompt": "{program}:",
        "h12_thanks": "Thanks! 12-hour itch {itch} saved.",
        "clear": "Thank you. Keep applying the study cream until {until}, then stop. Reply FLARE if patches come back.",
        "still_clear": "Thank you. Your skin is still clear: no cream needed. Reply FLARE if patches come back.",
        "flare": (
            "Thank you. Please resume applying the study cream on active patches. "
            "Are any patches in new areas or extensive? Reply YES or NO."
        ),
        "spread_yes": "Thank you. Your site will call you: {site} {phone}.",
        "spread_no": "Thank you. Keep applying the study cream on active patches. Reply CLEAR when your skin is clear.",
        "spread_reask": "Please reply YES or NO: are any patches in new areas or extensive?",
        "later": "Thank you. FLARE and CLEAR are used later in the study; your site will explain when.",
        "lesion_checkin": (
            "{program}: Any active patches on your skin this week? "
            "Reply FLARE if they are back or CLEAR if your skin is clear."
        ),
        "stop_treatment": "{program}: please stop applying the study cream today. Reply FLARE if patches come back.",
        "keep_treating": "{program}: keep applying the study cream until {until}, then stop.",
        "visit_reminder": "{program}: reminder, your study visit at {site} is {when}. Questions? Call {phone}.",
        # The app's sign-in code (diaries/patient/app/auth.py); the code leads so a lock screen shows it.
        "signin_code": (
            "{code} is your {program} app sign-in code. Do not share it. If you did not ask for it, ignore this."
        ),
    },
    "es": {
        "opt_out": "{program}: se ha dado de baja y no recibirá más mensajes. Responda START o ALTA para volver.",
        "opt_in": (
            "{program}: mensajes del diario, 1-2 al día. "
            "Pueden aplicarse tarifas de mensajes y datos. AYUDA: ayuda. STOP: baja."
        ),
        "help": "{program}: {site} {phone}{hours}. 1-2 msj/día, pueden aplicarse tarifas. STOP baja",
        "link": "Su enlace al diario: {link}",
        "link_follows": "Su enlace al diario llegará en un momento.",
        "ended": "Gracias por participar. Los mensajes del estudio han terminado. ¿Preguntas? Llame a {site}: {phone}.",
        "not_understood": "Lo siento, no le entendí. Responda AYUDA para recibir ayuda.",
        "idle_limit": "No le entendí. Ayuda: {site} {phone}. No responderé a más mensajes así hasta su próximo diario.",
        "media": "Lo siento, solo puedo leer texto. Responda con un mensaje de texto.",
        "outside_window": "El diario está cerrado ahora. Su próximo diario se abre {when}.",
        "no_diary": (
            "Ahora no hay diario. Responda BROTE si las zonas afectadas vuelven o LIMPIA cuando tenga la piel limpia."
        ),
        "diary_prompt": "{program}, {date}:",  # with the SMS itch question: 134 characters at most
        "reminder": "{date}, hasta las {closes}:",  # with the SMS itch question: 134 characters at most
        "unfinished": "Faltan {left} de {n}:",
        "itch_reask": "Responda con un número del {lo} ({low}) al {hi} ({high}).",
        "itch_out_of_range": (
            "Ese número no está en la escala. Responda con un número del {lo} ({low}) al {hi} ({high})."
        ),
        "itch_saved": "Picazón {itch} guardada.",
        "promis_reask": "Responda con un número: {options}. O envíe las {n} respuestas juntas.",
        "promis_out_of_range": "Esa no es una de las respuestas. Responda {options}.",
        "promis_all_out_of_range": (
            "Cada una de las {n} respuestas debe ser un número del 1 al {max}. Inténtelo de nuevo."
        ),
        "thanks": (
            "¡Gracias! Guardado para el {date}: picazón {itch}; sueño {sleep}. "
            "Para corregir, responda CAMBIAR antes de las {closes}."
        ),
        "itch_changed": "Cambiado: su picazón del {date} es ahora {itch}. ¡Gracias!",
        "confirm_itch": "Ya envió picazón {old} para el {date}. ¿Cambiarla a {new}? Responda SÍ o NO.",
        "confirm_sleep": "Ya envió sueño {old} para el {date}. ¿Cambiarlo a {new}? Responda SÍ o NO.",
        "kept": "De acuerdo, nada cambió para el {date}.",
        "sleep_changed": "Cambiado: su sueño del {date} es ahora {sleep}. ¡Gracias!",
        "repeat": "Ya envió eso para el {date}: nada cambió. Para cambiar sus respuestas, responda CAMBIAR.",
        "complete": "Su diario del {date} está completo. Para cambiar sus respuestas, responda CAMBIAR.",
        "redo": "Empezamos de nuevo, {date}:",
        "gave_up_diary": (
            "Lo siento, no pude leer su respuesta. Responda con un número cuando pueda o llame a {site}: {phone}."
        ),
        "gave_up": "Lo siento, no pude leer su respuesta. Para ayuda llame a {site}: {phone}.",
        "h12_prompt": "{program}:",
        "h12_thanks": "Picazón 12 h ({itch}) guardada.",
        "clear": (
            "Gracias. Siga aplicando la crema del estudio hasta el {until} y luego pare. "
            "Responda BROTE si las zonas afectadas vuelven."
        ),
        "still_clear": (
            "Gracias. Su piel sigue limpia: no necesita la crema. Responda BROTE si las zonas afectadas vuelven."
        ),
        "flare": (
            "Gracias. Vuelva a aplicar la crema del estudio en las zonas activas. "
            "¿Hay zonas nuevas o muy extensas? Responda SÍ o NO."
        ),
        "spread_yes": "Gracias. Su centro le llamará: {site} {phone}.",
        "spread_no": (
            "Gracias. Siga aplicando la crema del estudio en las zonas activas. "
            "Responda LIMPIA cuando la piel esté limpia."
        ),
        "spread_reask": "Responda SÍ o NO: ¿hay zonas nuevas o muy extensas?",
        "later": "Gracias. BROTE y LIMPIA se usan más adelante en el estudio; su centro le explicará cuándo.",
        "lesion_checkin": (
            "{program}: ¿Tiene zonas activas en la piel esta semana? "
            "Responda BROTE si han vuelto o LIMPIA si tiene la piel limpia."
        ),
        "stop_treatment": (
            "{program}: deje de aplicar la crema del estudio hoy. Responda BROTE si las zonas afectadas vuelven."
        ),
        "keep_treating": "{program}: siga aplicando la crema del estudio hasta el {until} y luego pare.",
        "visit_reminder": "{program}: su visita del estudio en {site} es {when}. ¿Preguntas? {phone}",
        "signin_code": (
            "{code} es su código para entrar en la aplicación {program}. No lo comparta. "
            "Si no lo pidió, ignore este mensaje."
        ),
    },
}


# Replies to a number that is not enrolled: neutral (no study, clinic or person named),
# in English and Spanish together since we cannot know the sender's language.
UNKNOWN_SENDER = {
    "HELP": "This number only texts enrolled study participants. Contact your clinic. / Solo escribe a participantes; "
            "contacte con su clínica.",
    "STOP": "No more messages will be sent to you. / No recibirá más mensajes.",
    None: "Sorry, this number does not accept messages from you. If you expected a reply, contact your clinic.",
}


# The programme's name as patients read it in each language (the web says "Diario de la
# piel" too: diaries/patient/texts.py). A study's name with no translation here is used as configured.
PROGRAM_NAMES: dict[str, dict[str, str]] = {"Skin Diary": {"es": "Diario de la piel"}}


def program_name(configured: str, language: str) -> str:
    return PROGRAM_NAMES.get(configured, {}).get(language_of(language), configured)


def language_of(language: str | None) -> str:
    return language if language in CATALOG else "en"


def render(language: str, key: str, **values) -> str:
    """A catalog text in the language (English when the language has no catalog)."""
    return CATALOG[language_of(language)][key].format(**values)
