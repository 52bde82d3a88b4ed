"""The SMS chatbot as conversations: transcripts of texts in, replies and effects out.

Pure tests: no database. A small fake service (`World`) does what the webhook service
does between two texts: it threads the state and applies effects to what the next
Context reports (answers current tonight, opted out, H12 done).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from diaries.protocol import dates, sms
from diaries.protocol.study_config import parse_study_config
from notifications.chatbot import (
    START_KINDS,
    AnswerRefused,
    Context,
    OptIn,
    OptOut,
    Outcome,
    RecordAnswers,
    ReportClearance,
    ReportRecurrence,
    ReportSpread,
    Result,
    SendLink,
    UnknownInput,
    handle,
    media_reply,
    start,
    texts,
)
from notifications.chatbot.parsing import normalize

PROGRAM = {"en": "Skin Diary", "es": "Diario de la piel"}  # the programme's name, translated
RULES = parse_study_config((Path(__file__).resolve().parents[3] / "studies" / "true-ad.toml").read_text())
CHICAGO = ZoneInfo("America/Chicago")
MADRID = ZoneInfo("Europe/Madrid")
TONIGHT = date(2025, 3, 4)  # a Tuesday
ITCH_CODE, P = "ITCH_NRS", "PROMIS_SD8B"


def make_ctx(language: str = "en", **changes) -> Context:
    """alice (Chicago, English) or her Madrid twin (Spanish), at 19:05 on Tue 4 Mar, diary open."""
    zone = CHICAGO if language == "en" else MADRID
    site = RULES.sites[0] if language == "en" else RULES.sites[3]
    ctx = Context(
        rules=RULES,
        language=language,
        phase="vc",
        opted_out=False,
        now_local=datetime(2025, 3, 4, 19, 5, tzinfo=zone),
        diary_date=TONIGHT,
        next_window_opens=datetime(2025, 3, 5, 17, 0, tzinfo=zone),
        h12_open=False,
        h12_done=False,
        current={},
        site_name=site.name,
        site_phone=site.phone,
        site_hours=site.hours,
    )
    return replace(ctx, **changes)


def closed(ctx: Context) -> dict:
    """The same participant at 09:30 the next morning: window closed, opens again at 17:00."""
    zone = ctx.now_local.tzinfo
    return {
        "now_local": datetime(2025, 3, 5, 9, 30, tzinfo=zone),
        "diary_date": None,
        "next_window_opens": datetime(2025, 3, 5, 17, 0, tzinfo=zone),
    }


@dataclass
class World:
    """The webhook service, faked: threads state and applies effects to the next Context."""

    ctx: Context
    state: dict = field(default_factory=dict)
    log: list[Result] = field(default_factory=list)

    def send(self, text: str) -> Result:
        return self._apply(handle(self.state, text, self.ctx))

    def prompt(self, kind: str) -> Result:
        return self._apply(start(kind, self.ctx, self.state))

    def move(self, **changes) -> None:
        self.ctx = replace(self.ctx, **changes)

    def _apply(self, result: Result) -> Result:
        json.dumps(result.state)  # stored on the conversation row as JSON
        self.state = result.state
        self.log.append(result)
        current = {k: dict(v) for k, v in self.ctx.current.items()}
        for effect in result.effects:
            if isinstance(effect, RecordAnswers) and effect.timepoint == "DAILY":
                assert effect.diary_date == self.ctx.diary_date
                current[effect.instrument] = dict(effect.answers)  # a superseding record
            elif isinstance(effect, RecordAnswers):
                self.ctx = replace(self.ctx, h12_done=True)
            elif isinstance(effect, OptOut):
                self.ctx = replace(self.ctx, opted_out=True)
            elif isinstance(effect, OptIn):
                self.ctx = replace(self.ctx, opted_out=False)
        self.ctx = replace(self.ctx, current=current)
        return result


class Prompt(str):
    """A transcript step that is a scheduled prompt, not an inbound text."""


@dataclass(frozen=True)
class Move:
    """A transcript step that changes the moment (the Context) before the next text."""

    changes: dict


def data_effects(result: Result) -> list:
    return [e for e in result.effects if not isinstance(e, UnknownInput | AnswerRefused | Outcome)]


def run(world: World, steps) -> World:
    for n, step in enumerate(steps):
        if isinstance(step, Move):
            world.move(**step.changes)
            continue
        inbound, wanted, effects = step
        result = world.prompt(inbound) if isinstance(inbound, Prompt) else world.send(inbound)
        where = f"step {n}: {inbound!r} -> {result.reply!r}"
        if wanted == "":
            assert result.reply == "", where
        for piece in (wanted,) if isinstance(wanted, str) else wanted:
            assert piece in result.reply, f"{where}: missing {piece!r}"
        assert data_effects(result) == effects, f"{where}: effects {result.effects}"
    return world


def itch(value, day=TONIGHT):
    return RecordAnswers(ITCH_CODE, "DAILY", day, {1: value})


def promis(*values, day=TONIGHT):
    return RecordAnswers(P, "DAILY", day, {n: v for n, v in enumerate(values, start=1)})


def h12(value):
    return RecordAnswers(ITCH_CODE, "H12", None, {1: value})


ONE_BY_ONE_EN = [
    (Prompt("diary"), ("Skin Diary", "Tue 4 Mar", "how bad was your itch", "in the past 24 hours"), []),
    (
        "7",
        ("Itch 7 saved", "1/8 In the past 24 hours, my sleep was restless.", "1 Not at all", "5 Very much"),
        [itch(7)],
    ),
    ("3", ("2/8", "satisfied"), [promis(3)]),
    ("2", "3/8", [promis(3, 2)]),
    ("four", "4/8", [promis(3, 2, 4)]),
    ("1.", ("5/8", "1 Never", "5 Always"), [promis(3, 2, 4, 1)]),
    ("Often", "6/8", [promis(3, 2, 4, 1, 4)]),
    (" 3 ", "7/8", [promis(3, 2, 4, 1, 4, 3)]),
    ("2", ("8/8", "1 Very poor", "5 Very good"), [promis(3, 2, 4, 1, 4, 3, 2)]),
    (
        "２",
        ("Thank you", "Tue 4 Mar", "itch 7", "sleep 3 2 4 1 4 3 2 2", "CHANGE", "3:00 AM"),
        [promis(3, 2, 4, 1, 4, 3, 2, 2)],
    ),
    ("thanks!", "", []),
]

ONE_BY_ONE_ES = [
    (Prompt("diary"), ("Diario de la piel", "mar 4 mar", "picazón"), []),
    (
        "siete",
        ("Picazón 7 guardada", "1/8 En las últimas 24 horas, mi sueño fue inquieto.", "1 Nada", "5 Muchísimo"),
        [itch(7)],
    ),
    ("tres", "2/8", [promis(3)]),
    ("Nada", "3/8", [promis(3, 1)]),  # the label of option 1, not the number word for 0
    ("cuatro", "4/8", [promis(3, 1, 4)]),
    ("1", ("5/8", "1 Nunca", "5 Siempre"), [promis(3, 1, 4, 1)]),
    ("a veces", "6/8", [promis(3, 1, 4, 1, 3)]),
    ("3", "7/8", [promis(3, 1, 4, 1, 3, 3)]),
    ("2", ("8/8", "1 Muy mala"), [promis(3, 1, 4, 1, 3, 3, 2)]),
    (
        "dos",
        ("Gracias", "mar 4 mar", "picazón 7", "sueño 3 1 4 1 3 3 2 2", "CAMBIAR", "3:00"),
        [promis(3, 1, 4, 1, 3, 3, 2, 2)],
    ),
    ("gracias", "", []),
]

ALL_AT_ONCE = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("7/10", "1/8", [itch(7)]),
    ("3 2 4 1 5 3 2 2", ("Thank you", "itch 7", "sleep 3 2 4 1 5 3 2 2"), [promis(3, 2, 4, 1, 5, 3, 2, 2)]),
]

ALL_AT_ONCE_ES = [
    (Prompt("diary"), "mar 4 mar", []),
    ("7 de 10", "1/8", [itch(7)]),
    ("3;2;4;1;5;3;2;2", ("Gracias", "picazón 7", "sueño 3 2 4 1 5 3 2 2"), [promis(3, 2, 4, 1, 5, 3, 2, 2)]),
]

ALL_AT_ONCE_WITH_COMMAS_MIDWAY = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("itch 6", "1/8", [itch(6)]),
    ("4", "2/8", [promis(4)]),
    ("3, 2, 4, 1, 5, 3, 2, 2.", "sleep 3 2 4 1 5 3 2 2", [promis(3, 2, 4, 1, 5, 3, 2, 2)]),
]

ALL_AT_ONCE_OUT_OF_RANGE = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("6", "1/8", [itch(6)]),
    ("3 2 4 1 6 3 2 2", "from 1 to 5", []),
    ("3 2 4 1 5 3 2", "Please reply with one number", []),  # seven numbers: neither one nor eight
    ("3 2 4 1 5 3 2 1", "sleep 3 2 4 1 5 3 2 1", [promis(3, 2, 4, 1, 5, 3, 2, 1)]),
]

PARTIAL_THEN_SILENCE = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("5", "1/8", [itch(5)]),
    ("1", "2/8", [promis(1)]),
    ("2", "3/8", [promis(1, 2)]),
    ("3", "4/8", [promis(1, 2, 3)]),
    ("4", "5/8", [promis(1, 2, 3, 4)]),
    ("5", "6/8", [promis(1, 2, 3, 4, 5)]),
]

UNPROMPTED_START = [
    ("I'd say 6", ("Itch 6 saved", "1/8"), [itch(6)]),
    ("3 2 4 1 5 3 2 2", "Thank you", [promis(3, 2, 4, 1, 5, 3, 2, 2)]),
]

CHANGE_RESTARTS = [
    ("8", "1/8", [itch(8)]),
    ("3 2 4 1 5 3 2 2", "Thank you", [promis(3, 2, 4, 1, 5, 3, 2, 2)]),
    ("CHANGE", ("starting again", "Tue 4 Mar", "how bad was your itch"), []),
    ("5", ("Itch 5 saved", "1/8"), [itch(5)]),
    # One by one after a restart: tonight's other answers stay until re-answered.
    ("1", "2/8", [promis(1, 2, 4, 1, 5, 3, 2, 2)]),
    ("2 2 2 2 2 2 2 2", ("itch 5", "sleep 2 2 2 2 2 2 2 2"), [promis(2, 2, 2, 2, 2, 2, 2, 2)]),
]

UNDO_IN_SPANISH = [
    ("8", "1/8", [itch(8)]),
    ("3 2 4 1 5 3 2 2", "Gracias", [promis(3, 2, 4, 1, 5, 3, 2, 2)]),
    ("Deshacer", ("Empezamos de nuevo", "mar 4 mar"), []),
    ("6", "Picazón 6", [itch(6)]),
    ("1 1 1 1 1 1 1 1", "sueño 1 1 1 1 1 1 1 1", [promis(1, 1, 1, 1, 1, 1, 1, 1)]),
]

UNDO_MIDWAY = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("9", "1/8", [itch(9)]),
    ("4", "2/8", [promis(4)]),
    ("undo", "starting again", []),
    ("2", "Itch 2", [itch(2)]),
    ("3", "2/8", [promis(3)]),
]

OUT_OF_WINDOW_EN = [
    Move(closed(make_ctx("en"))),
    ("7", "Your next diary opens today at 5:00 PM", []),
    ("CHANGE", "opens today at 5:00 PM", []),
]

OUT_OF_WINDOW_ES = [
    Move({"diary_date": None, "next_window_opens": datetime(2025, 3, 5, 17, 0, tzinfo=MADRID)}),
    ("7", "mañana a las 17:00", []),
    ("CAMBIAR", "se abre mañana a las 17:00", []),
]

WINDOW_CLOSES_MIDWAY = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("4", "1/8", [itch(4)]),
    ("2", "2/8", [promis(2)]),
    Move(closed(make_ctx("en"))),
    ("3", "opens today at 5:00 PM", []),  # the late answer is never stored
]

GARBAGE_THEN_HELP = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("blah", "0 (No itch) to 10 (Worst itch imaginable)", []),
    ("7 or 8", "from 0 (No itch) to 10", []),
    ("5-6", ("could not read", "Reply with a number", "Lakeside Dermatology Research", "+13125550101"), []),
    ("6", "Itch 6 saved", [itch(6)]),  # the conversation paused; a fresh number goes on
]

OUT_OF_RANGE_ITCH = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("11", "not on the scale", []),
    ("-3", "0 (No itch) to 10", []),
    ("10", "Itch 10 saved", [itch(10)]),
    ("7", ("not one of the answers", "1 Not at all"), []),  # PROMIS 1..5
    ("0", "not one of the answers", []),
    ("10/10 lol 3", "could not read", []),
]

GARBAGE_IN_SPANISH = [
    (Prompt("diary"), "mar 4 mar", []),
    ("muchísimo", "del 0 (Sin picazón) al 10", []),
    ("once", "Responda con un número", []),
    ("99", "no pude leer", []),
]

H12_ALONE = [
    Move({"h12_open": True, "diary_date": None}),
    # The 12-hour question asks for the hours since the first application, not the daily 24.
    (Prompt("h12"), ("Skin Diary:", "how bad was your itch", "in the past 12 hours"), []),
    ("4", "12-hour itch 4 saved", [h12(4)]),
    (Prompt("h12"), "", []),  # done: nothing more to ask
]

H12_OUT_OF_RANGE = [
    Move({"h12_open": True, "diary_date": None}),
    (Prompt("h12"), "Skin Diary:", []),
    ("eleven", "0 (No itch) to 10", []),
    ("11", "not on the scale", []),
    ("3", "12-hour itch 3 saved", [h12(3)]),
]

H12_INTERRUPTS_DIARY = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("6", "1/8", [itch(6)]),
    Move({"h12_open": True}),
    (Prompt("h12"), "Skin Diary:", []),
    ("5", ("12-hour itch 5 saved", "1/8 In the past 24 hours, my sleep was restless"), [h12(5)]),
    ("3", "2/8", [promis(3)]),
]

H12_BEFORE_DIARY_PROMPT = [
    Move({"h12_open": True}),
    (Prompt("h12"), "Skin Diary:", []),
    ("2", "12-hour itch 2 saved", [h12(2)]),
    ("6", "Itch 6 saved", [itch(6)]),  # the next number is tonight's diary
]

H12_UNPROMPTED_WHEN_DIARY_CLOSED = [
    Move({"h12_open": True, "diary_date": None}),
    ("3", "12-hour itch 3 saved", [h12(3)]),
    ("3", "opens tomorrow at 5:00 PM", []),
]

LONG_TERM_CLEAR = [
    Move({"phase": "long_term", "diary_date": None}),
    ("CLEAR", ("Keep applying the study cream until Fri 7 Mar", "FLARE"), [ReportClearance()]),
]

LONG_TERM_CLEAR_AGAIN = [
    # Cleared on Tue 4 Mar (stop day Fri 7 Mar); CLEAR again on Wed 5: the stop day stays.
    Move({"phase": "long_term", "diary_date": None, "cleared_on": date(2025, 3, 4),
          "now_local": datetime(2025, 3, 5, 18, 0, tzinfo=CHICAGO)}),
    ("CLEAR", ("Keep applying the study cream until Fri 7 Mar", "FLARE"), [ReportClearance()]),
    # The weekly check-in answered CLEAR after the stop day: nothing left to apply.
    Move({"now_local": datetime(2025, 3, 11, 18, 0, tzinfo=CHICAGO)}),
    ("CLEAR", ("still clear", "no cream needed", "FLARE"), [ReportClearance()]),
]

LONG_TERM_FLARE_YES = [
    Move({"phase": "long_term", "diary_date": None}),
    ("flare", ("resume applying", "new areas or extensive", "YES or NO"), [ReportRecurrence()]),
    ("Yes!", ("site will call you", "Lakeside Dermatology Research", "+13125550101"), [ReportSpread(True)]),
    ("yes", "did not understand", []),  # the question was answered
]

LONG_TERM_FLARE_NO = [
    Move({"phase": "long_term", "diary_date": None}),
    ("Flare.", "YES or NO", [ReportRecurrence()]),
    ("maybe", "Please reply YES or NO", []),
    ("NO", ("Thank you", "CLEAR"), [ReportSpread(False)]),
]

LONG_TERM_SPANISH = [
    Move({"phase": "long_term", "diary_date": None}),
    ("LIMPIA", ("hasta el vie 7 mar", "BROTE"), [ReportClearance()]),
    ("brote", ("Vuelva a aplicar", "SÍ o NO"), [ReportRecurrence()]),
    ("Sí", ("Su centro le llamará", "Clínica Dermatológica del Norte", "+34915550301"), [ReportSpread(True)]),
    ("CLEAR", "hasta el vie 7 mar", [ReportClearance()]),
    ("FLARE", "SÍ o NO", [ReportRecurrence()]),
    ("si", "Su centro le llamará", [ReportSpread(True)]),
]

LONG_TERM_NUMBER = [
    Move({"phase": "long_term", "diary_date": None}),
    ("7", ("no daily diary", "FLARE", "CLEAR"), []),
]

SPREAD_QUESTION_EXPIRES = [
    Move({"phase": "long_term", "diary_date": None}),
    ("FLARE", "YES or NO", [ReportRecurrence()]),
    Move({"now_local": datetime(2025, 3, 7, 10, 0, tzinfo=CHICAGO)}),
    ("yes", "did not understand", []),
]

CLEAR_TOO_EARLY = [
    ("CLEAR", ("later in the study", "FLARE"), []),
    ("flare", "later in the study", []),
]

OPTED_OUT_SILENCE = [
    ("STOP", ("Skin Diary", "no more messages", "START"), [OptOut()]),
    ("7", "", []),
    ("3 2 4 1 5 3 2 2", "", []),
    ("CHANGE", "", []),
    ("LINK", "", []),
    ("CLEAR", "", []),
    ("stop", "", []),  # one confirmation only
    ("HELP", ("Skin Diary", "+13125550101", "Msg & data rates may apply", "STOP"), []),
    ("START", ("Skin Diary", "Msg & data rates may apply", "HELP", "STOP"), [OptIn()]),
    ("7", "Itch 7 saved", [itch(7)]),
]

YES_OPTS_IN_ONLY_WHEN_OPTED_OUT = [
    ("yes", "did not understand", []),
    ("Opt-Out", "no more messages", [OptOut()]),
    ("YES", "signed up", [OptIn()]),
]

SPANISH_OPT_OUT_AND_BACK = [
    ("¡Alto!", ("Diario de la piel", "no recibirá más mensajes", "START"), [OptOut()]),
    ("7", "", []),
    ("AYUDA", ("Diario de la piel", "+34915550301", "tarifas"), []),
    ("sí", ("Diario de la piel", "tarifas", "STOP"), [OptIn()]),
]

LINKS = [
    ("LINK", "will follow", [SendLink()]),
    ("enlace", "will follow", [SendLink()]),
]

STALE_STATE_FROM_YESTERDAY = [
    Move({"now_local": datetime(2025, 3, 3, 20, 0, tzinfo=CHICAGO), "diary_date": date(2025, 3, 3)}),
    (Prompt("diary"), "Mon 3 Mar", []),
    ("5", "1/8", [itch(5, day=date(2025, 3, 3))]),
    Move({"now_local": datetime(2025, 3, 4, 19, 0, tzinfo=CHICAGO), "diary_date": TONIGHT, "current": {}}),
    ("4", "Itch 4 saved", [itch(4)]),  # tonight's itch, not yesterday's sleep item 1
]

REMINDER_RESUMES = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("5", "1/8", [itch(5)]),
    ("1", "2/8", [promis(1)]),
    ("4 5", "Please reply with one number", []),
    ("?", "Please reply with one number", []),
    ("!!", "Reply with a number when ready", []),
    (Prompt("reminder"), ("7 of 8 sleep questions left: 2/8", "2/8"), []),
    ("2", "3/8", [promis(1, 2)]),
]

REMINDER_WHEN_NOTHING_ANSWERED = [
    (Prompt("reminder"), ("Reminder, Tue 4 Mar until 3:00 AM:", "how bad was your itch"), []),
    ("3", "1/8", [itch(3)]),
    ("5 5 5 5 5 5 5 5", "Thank you", [promis(5, 5, 5, 5, 5, 5, 5, 5)]),
    (Prompt("reminder"), "", []),  # done: the reminder is not sent
]

WITHDRAWN = [
    Move({"phase": "withdrawn"}),
    ("7", ("Thank you for taking part", "+13125550101"), []),
    (Prompt("diary"), "", []),
    ("STOP", "no more messages", [OptOut()]),
]

COMPLETED_SPANISH = [
    Move({"phase": "completed"}),
    ("7", ("Gracias por participar", "+34915550301"), []),
    ("LINK", "Gracias por participar", []),
]

AUTO_RESPONDER_IS_NOT_ANSWERED_FOREVER = [
    ("I'm driving, I'll get back to you", "did not understand", []),
    ("I'm driving, I'll get back to you", "did not understand", []),
    ("I'm driving, I'll get back to you", ("did not understand", "For help call", "until your next diary"), []),
    ("I'm driving, I'll get back to you", "", []),
    ("I'm driving, I'll get back to you", "", []),
    ("HELP", "Msg & data rates may apply", []),
]

TRANSCRIPTS = {
    "one_by_one_en": ("en", ONE_BY_ONE_EN),
    "one_by_one_es": ("es", ONE_BY_ONE_ES),
    "all_at_once": ("en", ALL_AT_ONCE),
    "all_at_once_es": ("es", ALL_AT_ONCE_ES),
    "all_at_once_with_commas_midway": ("en", ALL_AT_ONCE_WITH_COMMAS_MIDWAY),
    "all_at_once_out_of_range": ("en", ALL_AT_ONCE_OUT_OF_RANGE),
    "partial_then_silence": ("en", PARTIAL_THEN_SILENCE),
    "unprompted_start": ("en", UNPROMPTED_START),
    "change_restarts": ("en", CHANGE_RESTARTS),
    "undo_in_spanish": ("es", UNDO_IN_SPANISH),
    "undo_midway": ("en", UNDO_MIDWAY),
    "out_of_window_en": ("en", OUT_OF_WINDOW_EN),
    "out_of_window_es": ("es", OUT_OF_WINDOW_ES),
    "window_closes_midway": ("en", WINDOW_CLOSES_MIDWAY),
    "garbage_then_help": ("en", GARBAGE_THEN_HELP),
    "out_of_range_itch": ("en", OUT_OF_RANGE_ITCH),
    "garbage_in_spanish": ("es", GARBAGE_IN_SPANISH),
    "h12_alone": ("en", H12_ALONE),
    "h12_out_of_range": ("en", H12_OUT_OF_RANGE),
    "h12_interrupts_diary": ("en", H12_INTERRUPTS_DIARY),
    "h12_before_diary_prompt": ("en", H12_BEFORE_DIARY_PROMPT),
    "h12_unprompted_when_diary_closed": ("en", H12_UNPROMPTED_WHEN_DIARY_CLOSED),
    "long_term_clear": ("en", LONG_TERM_CLEAR),
    "long_term_clear_again": ("en", LONG_TERM_CLEAR_AGAIN),
    "long_term_flare_yes": ("en", LONG_TERM_FLARE_YES),
    "long_term_flare_no": ("en", LONG_TERM_FLARE_NO),
    "long_term_spanish": ("es", LONG_TERM_SPANISH),
    "long_term_number": ("en", LONG_TERM_NUMBER),
    "spread_question_expires": ("en", SPREAD_QUESTION_EXPIRES),
    "clear_too_early": ("en", CLEAR_TOO_EARLY),
    "opted_out_silence": ("en", OPTED_OUT_SILENCE),
    "yes_opts_in_only_when_opted_out": ("en", YES_OPTS_IN_ONLY_WHEN_OPTED_OUT),
    "spanish_opt_out_and_back": ("es", SPANISH_OPT_OUT_AND_BACK),
    "links": ("en", LINKS),
    "stale_state_from_yesterday": ("en", STALE_STATE_FROM_YESTERDAY),
    "reminder_resumes": ("en", REMINDER_RESUMES),
    "reminder_when_nothing_answered": ("en", REMINDER_WHEN_NOTHING_ANSWERED),
    "withdrawn": ("en", WITHDRAWN),
    "completed_spanish": ("es", COMPLETED_SPANISH),
    "auto_responder_is_not_answered_forever": ("en", AUTO_RESPONDER_IS_NOT_ANSWERED_FOREVER),
}


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript(name):
    language, steps = TRANSCRIPTS[name]
    run(World(make_ctx(language)), steps)


def test_partial_promis_keeps_the_answers_given():
    world = run(World(make_ctx()), PARTIAL_THEN_SILENCE)
    assert world.ctx.current[P] == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}


def test_correction_supersedes_in_the_current_answers():
    world = run(World(make_ctx()), CHANGE_RESTARTS)
    assert world.ctx.current == {ITCH_CODE: {1: 5}, P: {n: 2 for n in range(1, 9)}}


def test_itch_eleven_and_promis_seven_are_never_recorded():
    world = run(World(make_ctx()), OUT_OF_RANGE_ITCH)
    recorded = [e for r in world.log for e in r.effects if isinstance(e, RecordAnswers)]
    assert recorded == [itch(10)]


def test_unusable_answers_are_logged_without_the_body():
    world = World(make_ctx())
    world.prompt("diary")
    result = world.send("my secret 55")
    # The refused answer is audited as the number it was read as, never the text.
    assert result.effects == [AnswerRefused("invalid_answer", "DAILY", {ITCH_CODE: {1: 55}}),
                              UnknownInput("out_of_range")]
    assert "secret" not in repr(result.effects)


def test_a_number_outside_the_window_is_a_refused_diary():
    world = World(make_ctx(**closed(make_ctx())))
    result = world.send("7")
    assert result.effects == [AnswerRefused("outside_window", "DAILY", {ITCH_CODE: {1: 7}}),
                              UnknownInput("outside_window")]
    assert world.send("hello").effects == [UnknownInput("unexpected")]  # not an answer: nothing refused


# -- keywords ----------------------------------------------------------------------

STOP_WORDS = [
    "STOP", "stopall", "Unsubscribe", "cancel", "END", "quit", "revoke", "OPTOUT", "opt out", "Opt-Out",
    "alto", "PARAR", "cancelar", "baja", "Detener", "BÁJA", " stop. ", "Stop!!!", "STOP 🛑", "¡ALTO!",
    "stop please", "Stop\x00",
]  # fmt: skip
REVOCATIONS = [
    "Please stop texting me",
    "no more messages",
    "don't text me anymore",
    "Do not contact me again",
    "remove me from this list",
    "No me envíen más mensajes",
    "no quiero recibir mas mensajes",
    "Dejen de escribirme, por favor... dejen de enviar",
    "quiero darme de baja",
]
NOT_REVOCATIONS = ["I can't stop scratching", "the itch won't end", "cancel my visit tomorrow?"]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("text", STOP_WORDS + REVOCATIONS)
def test_every_opt_out_keyword_opts_out_with_one_confirmation(language, text):
    world = World(make_ctx(language))
    world.prompt("diary")
    first = world.send(text)
    assert first.effects == [OptOut()]
    assert PROGRAM[language] in first.reply and "START" in first.reply
    assert ("no more messages" if language == "en" else "no recibirá más mensajes") in first.reply
    assert world.state["q"] is None
    second = world.send(text)
    assert (second.reply, second.effects) == ("", [Outcome("no_reply:opted_out")])


@pytest.mark.parametrize("text", NOT_REVOCATIONS)
def test_sentences_that_merely_contain_stop_words_are_not_opt_outs(text):
    assert OptOut() not in handle({}, text, make_ctx()).effects


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("text", ["START", "unstop", "Comenzar", "INICIO", "alta", "yes", "SÍ", "Start."])
def test_every_opt_in_keyword_opts_back_in(language, text):
    result = handle({}, text, make_ctx(language, opted_out=True))
    assert result.effects == [OptIn()]
    assert PROGRAM[language] in result.reply and "STOP" in result.reply
    assert ("Msg & data rates may apply" if language == "en" else "tarifas") in result.reply


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("opted_out", [False, True])
@pytest.mark.parametrize("text", ["HELP", "info", "Ayuda", "help?", "AYÚDA"])
def test_help_gives_program_site_frequency_rates_and_stop(language, opted_out, text):
    ctx = make_ctx(language, opted_out=opted_out)
    result = handle({}, text, ctx)
    assert result.effects == [Outcome("keyword")]
    for piece in (PROGRAM[language], ctx.site_name, ctx.site_phone, ctx.site_hours, "1-2", "STOP"):
        assert piece in result.reply
    assert ("Msg & data rates may apply" if language == "en" else "pueden aplicarse tarifas") in result.reply


def test_help_keeps_a_diary_in_progress():
    world = World(make_ctx())
    world.prompt("diary")
    world.send("6")
    world.send("HELP")
    assert world.send("2").effects == [promis(2)]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("text", ["LINK", "enlace", "Enlace."])
def test_link_includes_the_link_when_the_service_has_one(language, text):
    result = handle({}, text, make_ctx(language, web_link="https://eprp.test/diary/abc"))
    assert "https://eprp.test/diary/abc" in result.reply
    assert result.effects == []


@pytest.mark.parametrize("text", ["CHANGE", "change", "Undo", "UNDO!", "cambiar", "DESHACER"])
def test_every_correction_keyword_restarts_the_diary(text):
    result = handle({}, text, make_ctx())
    assert result.state["q"] == "itch" and "how bad was your itch" in result.reply


def test_keywords_win_over_a_pending_question():
    world = World(make_ctx())
    world.prompt("diary")
    assert world.send("clear").reply.startswith("Thank you. FLARE and CLEAR")
    assert world.send("stop").effects == [OptOut()]


# -- prompts -----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es"])
def test_lesion_checkin_asks_for_flare_or_clear(language):
    result = start("lesion_checkin", make_ctx(language, phase="long_term"))
    assert "FLARE" in result.reply or "BROTE" in result.reply
    assert PROGRAM[language] in result.reply


def test_treatment_prompts_name_the_study_cream_and_the_date():
    ctx = make_ctx(phase="long_term")
    assert "stop applying the study cream today" in start("stop_treatment", ctx).reply
    assert "until Fri 7 Mar" in start("keep_treating", ctx).reply
    assert start("keep_treating", make_ctx("es", phase="long_term")).reply.endswith("hasta el vie 7 mar y luego pare.")


@pytest.mark.parametrize("kind", ["lesion_checkin", "stop_treatment", "keep_treating"])
def test_treatment_prompts_wait_for_the_long_term_phase(kind):
    assert start(kind, make_ctx()).reply == ""


def test_visit_reminder_needs_a_date():
    assert start("visit_reminder", make_ctx()).reply == ""
    reply = start("visit_reminder", make_ctx(visit_date=date(2025, 3, 5))).reply
    assert "tomorrow, Wed 5 Mar" in reply and "Lakeside Dermatology Research" in reply
    es = start("visit_reminder", make_ctx("es", visit_date=datetime(2025, 3, 5, 10, 0, tzinfo=MADRID))).reply
    assert "mañana a las 10:00" in es


@pytest.mark.parametrize("language", ["en", "es"])
def test_optin_confirmation_has_the_ctia_pieces(language):
    reply = start("optin_confirmation", make_ctx(language)).reply
    assert PROGRAM[language] in reply and "1-2" in reply and "HELP" in reply or "AYUDA" in reply
    assert "STOP" in reply


@pytest.mark.parametrize("kind", ["diary", "reminder", "h12", "lesion_checkin", "visit_reminder"])
def test_nothing_is_prompted_to_an_opted_out_participant(kind):
    ctx = make_ctx(opted_out=True, h12_open=True, visit_date=date(2025, 3, 5))
    assert start(kind, ctx).reply == ""


def test_diary_prompt_needs_an_open_window():
    assert start("diary", make_ctx(diary_date=None)).reply == ""


def test_unknown_prompt_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        start("birthday", make_ctx())


def test_a_visit_reminder_does_not_lose_a_diary_in_progress():
    world = World(make_ctx(visit_date=date(2025, 3, 5)))
    world.prompt("diary")
    world.send("6")
    world.prompt("visit_reminder")
    assert world.send("4").effects == [promis(4)]


def test_the_contract_form_of_start_without_state_works():
    result = start("diary", make_ctx())
    assert result.state["q"] == "itch" and result.effects == []
    assert handle(result.state, "6", make_ctx()).effects == [itch(6)]


# -- odd bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\x00\x01\x02", "😀😀😀", "7" * 10_000, "a" * 10_000, "7 " * 5_000, "\u202e7", None, "７", "٧"],
)
def test_odd_bodies_never_raise(text):
    for state in ({}, start("diary", make_ctx()).state, {"q": "promis", "todo": [99], "date": "x"}, None):
        result = handle(state, text, make_ctx())
        assert isinstance(result.reply, str)
        json.dumps(result.state)


def test_a_ten_thousand_digit_body_is_not_an_answer():
    world = World(make_ctx())
    world.prompt("diary")
    assert data_effects(world.send("7" * 10_000)) == []


def test_full_width_and_arabic_indic_digits_are_numbers():
    world = World(make_ctx())
    world.prompt("diary")
    assert world.send("７").effects == [itch(7)]
    assert world.send("٣").effects == [promis(3)]


@pytest.mark.parametrize("language", ["en", "es"])
def test_media_gets_a_text_only_please(language):
    reply = media_reply(make_ctx(language))
    assert reply and ("text" in reply or "texto" in reply)
    assert media_reply(make_ctx(language, opted_out=True)) == ""


def test_a_corrupt_stored_state_is_reset_not_fatal():
    result = handle({"q": "promis", "todo": ["x"], "promis": {"1": "9"}, "tries": "lots"}, "6", make_ctx())
    assert result.effects == [itch(6)]


# -- texts: forbidden words, GSM-7 (their length: test_segments.py) ------------------------------------------------

FORBIDDEN = re.compile(
    r"\b(eczema|eccema|dermatitis|atopic\w*|atopica|ruxolitinib|rux|opzelura|jak|vehicle|vehiculo|placebo|steroid\w*)\b"
)
SAMPLES = {
    "program": "Skin Diary", "site": "Lakeside Dermatology Research", "phone": "+13125550101",
    "hours": " (Mon-Fri 8am-5pm)", "link": "https://eprp.test/d/x", "when": "today at 5:00 PM", "date": "Tue 4 Mar",
    "until": "Fri 7 Mar", "closes": "3:00 AM", "itch": 7, "sleep": "3 2 4 1 5 3 2 2", "n": 8, "k": 1, "max": 5,
    "lo": 0, "hi": 10, "low": "No itch", "high": "Worst itch imaginable", "question": "Q?", "text": "Q?",
    "options": "1 Never, 2 Rarely, 3 Sometimes, 4 Often, 5 Always", "code": "123456", "left": 7,
    "old": 6, "new": 4,
}  # fmt: skip


def every_reply(language: str) -> list[str]:
    """Every text the bot says in a language: the catalog and every transcript and prompt."""
    out = [texts.render(language, key, **SAMPLES) for key in texts.CATALOG[language]]
    for lang, steps in TRANSCRIPTS.values():
        if lang == language:
            out += [r.reply for r in run(World(make_ctx(language)), steps).log]
    for phase in ("vc", "long_term"):
        ctx = make_ctx(language, phase=phase, h12_open=True, visit_date=date(2025, 3, 5))
        out += [start(kind, ctx).reply for kind in START_KINDS]
    out.append(media_reply(make_ctx(language)))
    for n in range(1, 9):
        out.append(handle({"q": "promis", "date": "2025-03-04", "todo": [n]}, "x", make_ctx(language)).reply)
    return [r for r in out if r]


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_text_names_a_diagnosis_a_drug_or_an_arm(language):
    for reply in every_reply(language):
        assert not FORBIDDEN.search(normalize(reply)), reply


def test_english_texts_are_gsm7():
    for reply in every_reply("en"):
        assert sms.is_gsm7(reply), [c for c in reply if not sms.is_gsm7(c)]


def test_both_catalogs_have_the_same_texts_and_placeholders():
    en, es = texts.CATALOG["en"], texts.CATALOG["es"]
    assert en.keys() == es.keys()
    for key in en:
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", es[key])), key


@pytest.mark.parametrize(
    "day, en, es",
    [
        (date(2025, 3, 3), "Mon 3 Mar", "lun 3 mar"),
        (date(2025, 3, 4), "Tue 4 Mar", "mar 4 mar"),
        (date(2025, 1, 1), "Wed 1 Jan", "mié 1 ene"),
        (date(2025, 8, 16), "Sat 16 Aug", "sáb 16 ago"),
        (date(2025, 12, 28), "Sun 28 Dec", "dom 28 dic"),
    ],
)
def test_dates_are_spelled_without_the_os_locale(day, en, es):
    assert dates.sms_date(day, "en") == en
    assert dates.sms_date(day, "es") == es


@pytest.mark.parametrize(
    "zone, day, until",
    [
        # CLEAR on the Friday before a DST change: D+3 is a calendar date, not 72 hours.
        (CHICAGO, date(2025, 3, 7), "Mon 10 Mar"),
        (MADRID, date(2025, 3, 28), "Mon 31 Mar"),
        (CHICAGO, date(2025, 10, 31), "Mon 3 Nov"),
        (MADRID, date(2025, 10, 24), "Mon 27 Oct"),
    ],
)
def test_keep_treating_date_is_three_calendar_days_across_dst(zone, day, until):
    now = datetime.combine(day, datetime.min.time(), tzinfo=zone) + timedelta(hours=23, minutes=30)
    ctx = make_ctx(phase="long_term", now_local=now, diary_date=None)
    assert until in handle({}, "CLEAR", ctx).reply


@pytest.mark.parametrize(
    "opens, en, es",
    [
        (datetime(2025, 3, 5, 17, 0), "today at 5:00 PM", "hoy a las 17:00"),
        (datetime(2025, 3, 6, 17, 30), "tomorrow at 5:30 PM", "mañana a las 17:30"),
        (datetime(2025, 3, 8, 1, 0), "on Sat 8 Mar at 1:00 AM", "el sáb 8 mar a la 1:00"),
        (datetime(2025, 3, 5, 12, 0), "today at 12:00 PM", "hoy a las 12:00"),
    ],
)
def test_next_window_is_told_in_local_words(opens, en, es):
    today = date(2025, 3, 5)
    assert dates.sms_when(opens, today, "en") == en
    assert dates.sms_when(opens, today, "es") == es
