"""The SMS chatbot: a pure state machine over one participant's conversation.

    handle(state, text, ctx) -> Result      an inbound text
    start(kind, ctx, state=None) -> Result  a proactive prompt the scheduler sends

No database, no clock, no Django models: notifications.inbound reads the conversation
row (under a row lock), builds a `Context`, calls `handle`, applies `Result.effects`
through diaries (`submit_diary`, the treatment reports), stores `Result.state` back and
sends `Result.reply` ("" means send nothing). Everything the bot needs to know about the world (time,
windows, what is already recorded) comes in `Context`; everything it wants done
goes out as effects.

The conversation state it keeps between texts is described in state.py.
"""

from __future__ import annotations

from datetime import date, datetime

from diaries.protocol import cycles, dates
from diaries.protocol.study_config import Instrument, Item
from notifications.chatbot import parsing, texts
from notifications.chatbot.effects import (
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
)
from notifications.chatbot.state import empty_state, is_int, load_state

ITCH = "ITCH_NRS"
PROMIS = "PROMIS_SD8B"
DIARY_PHASES = frozenset({"runin", "vc"})  # the daily diary runs from Day -7 to Week 8 (ENDPOINTS.md §2)
ENDED_PHASES = frozenset({"withdrawn", "completed"})
# "Re-ask with the valid range, twice at most, then a help text": the conversation pauses
# there, and the next readable answer goes on from the first unanswered item.
MAX_REASKS = 2
# Replies to unexpected texts per diary period (an open window, or the time until the
# next one): an auto-responder ("I'm driving") answering our "Sorry, I did not understand"
# must not turn into an endless exchange. Diary answers and keywords never count.
MAX_IDLE_REPLIES = 3
# The "new areas or extensive?" question is answered the day it is asked or the next.
SPREAD_ANSWER_DAYS = 1
START_KINDS = (
    "diary",
    "reminder",
    "h12",
    "lesion_checkin",
    "stop_treatment",
    "keep_treating",
    "visit_reminder",
    "optin_confirmation",
)


def handle(state: dict | None, text: str | None, ctx: Context) -> Result:
    """The reply to one inbound text; total: any text and any stored state give a Result."""
    bot = _Bot(state, ctx)
    reply = bot.handle(text if isinstance(text, str) else "")
    return Result(state=bot.s, reply=reply, effects=bot.effects)


def start(kind: str, ctx: Context, state: dict | None = None) -> Result:
    """A proactive prompt; reply "" when there is nothing to send (opted out, window closed, already done).

    Pass the stored `state` when there is one: a visit reminder or the H12 prompt then
    leaves a diary in progress where it was instead of forgetting it.
    """
    if kind not in START_KINDS:
        raise ValueError(f"unknown prompt kind {kind!r} (known: {', '.join(START_KINDS)})")
    bot = _Bot(state, ctx)
    reply = bot.start(kind)
    return Result(state=bot.s, reply=reply, effects=bot.effects)


def media_reply(ctx: Context) -> str:
    """The reply to a picture or other media message: text only, please."""
    return "" if ctx.opted_out else texts.render(ctx.language, "media")


class _Bot:
    def __init__(self, state, ctx: Context):
        self.ctx = ctx
        self.lang = texts.language_of(ctx.language)
        self.rules = ctx.rules
        self.s = self.fit(load_state(state))
        if self.s["resume"]:
            self.s["resume"] = self.fit(self.s["resume"])
        self.effects: list = []

    def fit(self, s: dict) -> dict:
        """Keep only PROMIS item numbers this study has (a state may come from another configuration)."""
        items = [it.number for it in self.rules.instrument(PROMIS).items]
        s["todo"] = [n for i, n in enumerate(s["todo"]) if n in items and n not in s["todo"][:i]]
        if s["q"] == "promis" and not s["todo"]:
            s["q"] = None
        return s

    # -- small helpers ------------------------------------------------------------

    def t(self, key: str, **values) -> str:
        return texts.render(self.lang, key, **values)

    @property
    def itch_item(self) -> Item:
        return self.rules.instrument(ITCH).items[0]

    @property
    def promis(self) -> Instrument:
        return self.rules.instrument(PROMIS)

    def date_text(self, day: date) -> str:
        return dates.sms_date(day, self.lang)

    def open_diary(self) -> str | None:
        """The ISO diary date when a daily diary can be answered right now."""
        c = self.ctx
        return c.diary_date.isoformat() if c.diary_date is not None and c.phase in DIARY_PHASES else None

    def current(self, code: str) -> dict[int, int]:
        """ctx.current for one instrument, keeping only answers that are real choices."""
        raw = (self.ctx.current or {}).get(code) or {}
        items = {it.number: it for it in self.rules.instrument(code).items}
        out = {}
        for key, value in raw.items():
            number = int(key) if is_int(key) or (isinstance(key, str) and key.isdecimal()) else None
            if number in items and is_int(value) and value in items[number].choices:
                out[number] = value
        return out

    def to_idle(self, **keep) -> None:
        self.s = {**empty_state(self.s.get("idle")), **keep}

    def period(self) -> str:
        """The diary period the unsolicited-reply cap counts in: it starts again with each window."""
        c = self.ctx
        if c.diary_date is not None:
            return f"open {c.diary_date.isoformat()}"
        return f"before {c.next_window_opens.date().isoformat()}"

    def idle_reply(self, key: str, **values) -> str:
        """A reply to a text we did not ask for, at most MAX_IDLE_REPLIES per diary period.

        The last one allowed says how to get help and that more such texts get no answer,
        so the patient is never left with a silence they were not told about.
        """
        period = self.period()
        day, count = self.s["idle"] or (None, 0)
        if day != period:
            count = 0
        if count >= MAX_IDLE_REPLIES:
            self.effects.append(Outcome("no_reply:daily_limit"))
            return ""
        self.s["idle"] = [period, count + 1]
        if count + 1 == MAX_IDLE_REPLIES:
            return self.t("idle_limit", **self.site())
        return self.t(key, **values)

    def silent(self, why: str) -> str:
        """No reply, with the reason kept on the inbound row."""
        self.effects.append(Outcome(f"no_reply:{why}"))
        return ""

    def site(self) -> dict:
        return {"site": self.ctx.site_name, "phone": self.ctx.site_phone}

    def itch_question(self, timepoint: str = "DAILY") -> str:
        return self.itch_item.question(self.lang, timepoint)

    def itch_range(self) -> dict:
        item = self.itch_item
        return {
            "lo": item.min,
            "hi": item.max,
            "low": item.anchor_low.get(self.lang) or item.anchor_low.get("en", ""),
            "high": item.anchor_high.get(self.lang) or item.anchor_high.get("en", ""),
        }

    def options_text(self, item: Item) -> str:
        return ", ".join(f"{n} {item.label_of(n, self.lang)}" for n in item.choices)

    def program(self) -> str:
        return texts.program_name(self.rules.program_name, self.lang)

    def with_question(self, lead: str, question: str) -> str:
        """`lead` and the question in one text when that costs no extra segment; else the question alone.

        A study's validated question is sent whole; what the bot says around it is dropped
        rather than push a reply into another segment (texts.budget).
        """
        joined = f"{lead} {question}" if lead else question
        return joined if texts.segments(joined) <= texts.budget(self.lang, question) else question

    def promis_question(self, number: int) -> str:
        item = self.promis.item(number)
        text = item.question(self.lang)
        return self.t("promis_question", k=number, n=len(self.promis.items), text=text, options=self.options_text(item))

    def promis_answers(self) -> dict[int, int]:
        out = {}
        for item in self.promis.items:
            value = self.s["promis"].get(str(item.number))
            if value in item.choices:
                out[item.number] = value
        return out

    def outside_window(self) -> str:
        c = self.ctx
        when = dates.sms_when(c.next_window_opens, c.now_local.date(), self.lang)
        self.effects.append(UnknownInput("outside_window"))
        return self.t("outside_window", when=when)  # an answer, or CHANGE: never capped

    # -- staleness ------------------------------------------------------------------

    def drop_stale(self) -> None:
        """Forget questions whose moment has passed: a closed window, a spent H12 window."""
        s, c = self.s, self.ctx
        if s["q"] == "h12" and (not c.h12_open or c.h12_done):
            self.resume()
            s = self.s
        diary = self.open_diary()
        if s["q"] in ("itch", "promis") and (diary is None or s["date"] != diary):
            self.to_idle()
        elif s["q"] == "spread":
            asked = date.fromisoformat(s["asked_on"]) if s["asked_on"] else None
            if asked is None or (c.now_local.date() - asked).days > SPREAD_ANSWER_DAYS:
                self.to_idle()
        elif s["q"] is None and s["thanked"] and (diary is None or s["date"] != diary):
            self.to_idle()
        elif s["q"] == "confirm" and (diary is None or s["date"] != diary):
            self.to_idle()  # "Change it to 4?" expires with the window: nothing changes

    def resume(self) -> None:
        """Back to the diary question the H12 prompt interrupted (or to idle)."""
        resume = self.s["resume"]
        self.to_idle()
        if resume and resume["date"] is not None and resume["date"] == self.open_diary():
            self.s.update({k: v for k, v in resume.items() if k not in ("idle", "resume")}, tries=0)

    # -- inbound --------------------------------------------------------------------

    def handle(self, text: str) -> str:
        c = self.ctx
        norm = parsing.normalize(text)
        kw = parsing.keyword(norm)
        # Opt-out first, before any other reading (TCPA: honoured at once, in any reasonable way).
        if kw == "STOP" or parsing.is_revocation(norm):
            self.to_idle()
            if c.opted_out:
                return self.silent("opted_out")  # the one confirmation was sent when they opted out
            self.effects.append(OptOut())
            return self.t("opt_out", program=self.program())
        if c.opted_out:
            if kw in ("START", "YES"):
                self.effects.append(OptIn())
                return self.t("opt_in", program=self.program())
            if kw == "HELP":
                return self.help()
            self.effects.append(Outcome("no_reply:opted_out"))
            # Decision: an opted-out participant's texts are neither answered nor stored
            # as diary data. They withdrew consent to the SMS channel, and a diary answer
            # would need a confirmation text we may not send; a "7" from them is logged
            # by the webhook as an inbound message only. START resumes everything.
            return ""
        if kw == "START":
            # Emitted even when we think they are opted in: the carrier (Twilio's own
            # STOP handling) may have blocked the number without our knowing; the service
            # treats OptIn as idempotent.
            self.effects.append(OptIn())
            return self.t("opt_in", program=self.program())
        if kw == "HELP":
            return self.help()
        if c.phase in ENDED_PHASES:
            self.to_idle()
            return self.idle_reply("ended", **self.site())
        if kw == "LINK":
            if c.web_link:
                return self.t("link", link=c.web_link)
            self.effects.append(SendLink())
            return self.t("link_follows")
        self.drop_stale()
        if kw in ("CLEAR", "FLARE"):
            return self.lesions(kw)
        if kw == "CHANGE":
            return self.redo()
        q = self.s["q"]
        if q == "confirm":
            if kw in ("YES", "NO"):
                return self.answer_confirm(kw == "YES")
            self.s.update(q=None, confirm=None)  # not an answer to "Change it?": read it afresh
            q = None
        if q == "spread":
            return self.answer_spread(kw)
        if q == "h12":
            return self.answer_h12(norm)
        if q == "itch":
            return self.answer_itch(norm)
        if q == "promis" and self.s["todo"]:
            return self.answer_promis(norm)
        return self.unprompted(norm)

    def help(self) -> str:
        self.effects.append(Outcome("keyword"))
        hours = f" ({self.ctx.site_hours})" if self.ctx.site_hours else ""
        return self.t("help", program=self.program(), hours=hours, **self.site())

    def reask(self, key: str, text_kind: str, **values) -> str:
        """Ask again, MAX_REASKS times at most; then a help text and the conversation pauses.

        A diary is never closed by it: the next readable answer while the window is open
        goes on from the first unanswered item (see `unprompted`).
        """
        self.effects.append(UnknownInput(text_kind))
        self.s["tries"] += 1
        if self.s["tries"] > MAX_REASKS:
            diary = self.s["q"] in ("itch", "promis")
            self.to_idle()
            return self.t("gave_up_diary" if diary else "gave_up", **self.site())
        return self.t(key, **values)

    def begin_diary(self, *, redo: bool) -> None:
        """A diary run for tonight: the itch question next, then PROMIS.

        The PROMIS answers already current this evening are kept as the starting point,
        so a patient who restarts (CHANGE) and stops half-way keeps the rest of the
        evening's answers instead of losing them to a shorter superseding record.
        """
        promis = self.current(PROMIS)
        items = [it.number for it in self.promis.items]
        self.to_idle()
        self.s.update(
            q="itch",
            date=self.open_diary(),
            promis={str(k): v for k, v in promis.items()},
            todo=items if redo else [n for n in items if n not in promis],
        )

    def answer_itch(self, norm: str) -> str:
        item = self.itch_item
        reading = parsing.read_number(norm, scale_max=item.max)
        if reading.kind != "number":
            return self.reask("itch_reask", "unclear", **self.itch_range())
        if reading.value not in item.choices:
            self.effects.append(AnswerRefused("invalid_answer", "DAILY", {ITCH: {item.number: reading.value}}))
            return self.reask("itch_out_of_range", "out_of_range", **self.itch_range())
        value = reading.value
        self.effects.append(RecordAnswers(ITCH, "DAILY", self.ctx.diary_date, {item.number: value}))
        if self.s["fix"]:
            self.to_idle(date=self.s["date"], thanked=True, itch=value)
            return self.t("itch_changed", itch=value, date=self.date_text(self.ctx.diary_date))
        self.s.update(itch=value, tries=0)
        if not self.s["todo"]:
            return self.thanks()
        self.s["q"] = "promis"
        n = len(self.promis.items)
        return self.with_question(self.t("itch_saved", itch=value, n=n), self.promis_question(self.s["todo"][0]))

    def label_answer(self, norm: str, item: Item) -> int | None:
        """An option typed by its label ("very much", "a veces") in the patient's language or English."""
        for option in item.options:
            for lang in (self.lang, "en"):
                label = option.labels.get(lang)
                if label and parsing.matches_label(norm, label):
                    return option.number
        return None

    def answer_promis(self, norm: str) -> str:
        items = self.promis.items
        item = self.promis.item(self.s["todo"][0])
        value = self.label_answer(norm, item)
        many = parsing.read_numbers(norm) if value is None else None
        if many is not None and len(many) == len(items):
            if not all(v in it.choices for v, it in zip(many, items, strict=True)):
                given = {it.number: v for it, v in zip(items, many, strict=True)}
                self.effects.append(AnswerRefused("invalid_answer", "DAILY", {PROMIS: given}))
                top = max(len(it.choices) for it in items)
                return self.reask("promis_all_out_of_range", "out_of_range", n=len(items), max=top)
            self.s["promis"] = {str(it.number): v for it, v in zip(items, many, strict=True)}
            self.s["todo"] = []
            self.effects.append(RecordAnswers(PROMIS, "DAILY", self.ctx.diary_date, self.promis_answers()))
            return self.thanks()
        if value is None:
            reading = parsing.read_number(norm, scale_max=len(item.choices))
            if reading.kind != "number":
                return self.reask("promis_reask", "unclear", options=self.options_text(item), n=len(items))
            if reading.value not in item.choices:
                self.effects.append(AnswerRefused("invalid_answer", "DAILY", {PROMIS: {item.number: reading.value}}))
                return self.reask("promis_out_of_range", "out_of_range", options=self.options_text(item))
            value = reading.value
        self.s["promis"][str(item.number)] = value
        self.s["todo"] = self.s["todo"][1:]
        self.s["tries"] = 0
        self.effects.append(RecordAnswers(PROMIS, "DAILY", self.ctx.diary_date, self.promis_answers()))
        if self.s["todo"]:
            return self.promis_question(self.s["todo"][0])
        return self.thanks()

    def thanks(self) -> str:
        """The end of the diary: repeat what was stored, for which date, and how to fix it."""
        itch = self.s["itch"] if self.s["itch"] is not None else self.current(ITCH).get(self.itch_item.number)
        answers = self.promis_answers()
        sleep = " ".join(str(answers.get(it.number, "-")) for it in self.promis.items)
        self.to_idle(date=self.s["date"], thanked=True, itch=itch, promis=self.s["promis"])
        return self.t(
            "thanks",
            date=self.date_text(self.ctx.diary_date),
            itch="-" if itch is None else itch,
            sleep=sleep,
            closes=dates.format_time(self.rules.window_closes, self.lang),
        )

    def answer_h12(self, norm: str) -> str:
        item = self.itch_item
        reading = parsing.read_number(norm, scale_max=item.max)
        if reading.kind != "number":
            return self.reask("itch_reask", "unclear", **self.itch_range())
        if reading.value not in item.choices:
            self.effects.append(AnswerRefused("invalid_answer", "H12", {ITCH: {item.number: reading.value}}))
            return self.reask("itch_out_of_range", "out_of_range", **self.itch_range())
        self.effects.append(RecordAnswers(ITCH, "H12", None, {item.number: reading.value}))
        reply = self.t("h12_thanks", itch=reading.value)
        self.resume()
        if self.s["q"] == "itch":
            return self.with_question(reply, self.itch_question())
        if self.s["q"] == "promis" and self.s["todo"]:
            return self.with_question(reply, self.promis_question(self.s["todo"][0]))
        return reply

    def unprompted(self, norm: str) -> str:
        """A text while no question is pending.

        A number is tonight's itch when none is saved yet; with the itch saved and sleep
        items unanswered, a readable answer goes on from the first unanswered item (a
        diary can always be finished while the window is open); with the diary complete,
        nothing changes by itself: a repeat is said to be one, anything else is asked
        about ("Change it to 4? Reply YES or NO").
        """
        c = self.ctx
        reading = parsing.read_number(norm, scale_max=self.itch_item.max)
        many = parsing.read_numbers(norm)
        if reading.kind == "none" and many is None and not self.resumable(norm):
            if parsing.is_courtesy(norm):
                return self.silent("courtesy")
            self.effects.append(UnknownInput("unexpected"))
            return self.idle_reply("not_understood")
        diary = self.open_diary()
        if c.h12_open and not c.h12_done and diary is None:
            self.to_idle()
            self.s["q"] = "h12"
            return self.answer_h12(norm)
        if c.phase not in DIARY_PHASES:
            return self.idle_reply("no_diary")
        if diary is None:
            answers = {ITCH: {self.itch_item.number: reading.value}} if reading.kind == "number" else {}
            self.effects.append(AnswerRefused("outside_window", "DAILY", answers))
            return self.outside_window()
        itch = self.current(ITCH).get(self.itch_item.number)
        if itch is None:
            self.begin_diary(redo=False)
            return self.answer_itch(norm)
        if len(self.current(PROMIS)) < len(self.promis.items):
            if not self.resumable(norm):
                self.effects.append(UnknownInput("unclear"))
                return self.idle_reply("not_understood")
            self.begin_diary(redo=False)
            self.s.update(q="promis", itch=itch)
            return self.answer_promis(norm)
        return self.ask_to_change(norm, reading, many, itch)

    def resumable(self, norm: str) -> bool:
        """Whether a text reads as an answer to the first unanswered sleep item (or as all of them)."""
        promis = self.current(PROMIS)
        todo = [it for it in self.promis.items if it.number not in promis]
        if not todo or self.current(ITCH).get(self.itch_item.number) is None:
            return False
        item = todo[0]
        many = parsing.read_numbers(norm)
        return (
            self.label_answer(norm, item) is not None
            or parsing.read_number(norm, scale_max=len(item.choices)).kind == "number"
            or (many is not None and len(many) == len(self.promis.items))
        )

    def ask_to_change(self, norm: str, reading, many: list[int] | None, itch: int) -> str:
        """Tonight's diary is complete and a number came: a repeat, or "Change it to 4? Reply YES or NO"."""
        day = self.date_text(self.ctx.diary_date)
        items = self.promis.items
        if many is not None and len(many) == len(items) and len(items) > 1:
            current = self.current(PROMIS)
            if all(current.get(it.number) == v for it, v in zip(items, many, strict=True)):
                self.effects.append(Outcome("repeat"))
                return self.t("repeat", date=day)
            if not all(v in it.choices for v, it in zip(many, items, strict=True)):
                return self.unusable_number()
            old = " ".join(str(current.get(it.number, "-")) for it in items)
            self.s.update(q="confirm", date=self.open_diary(), confirm={
                "code": PROMIS, "answers": {str(it.number): v for it, v in zip(items, many, strict=True)}})
            self.effects.append(Outcome("confirm_asked"))
            return self.t("confirm_sleep", old=old, new=" ".join(map(str, many)), date=day)
        if reading.kind != "number" or reading.value not in self.itch_item.choices:
            return self.unusable_number()
        if reading.value == itch:
            self.effects.append(Outcome("repeat"))
            return self.t("repeat", date=day)
        self.s.update(q="confirm", date=self.open_diary(), confirm={
            "code": ITCH, "answers": {str(self.itch_item.number): reading.value}})
        self.effects.append(Outcome("confirm_asked"))
        return self.t("confirm_itch", old=itch, new=reading.value, date=day)

    def unusable_number(self) -> str:
        """A number after a complete diary that fits no question: nothing is stored anywhere."""
        self.effects.append(UnknownInput("unexpected"))
        return self.idle_reply("complete", date=self.date_text(self.ctx.diary_date))

    def answer_confirm(self, yes: bool) -> str:
        """YES (in the patient's language) supersedes tonight's answers; NO keeps them."""
        confirm, day = self.s["confirm"], self.date_text(self.ctx.diary_date)
        self.to_idle(date=self.s["date"], thanked=True)
        if not yes:
            self.effects.append(Outcome("kept"))
            return self.t("kept", date=day)
        answers = {int(k): v for k, v in confirm["answers"].items()}
        self.effects.append(RecordAnswers(confirm["code"], "DAILY", self.ctx.diary_date, answers))
        self.effects.append(Outcome("corrected"))
        if confirm["code"] == ITCH:
            return self.t("itch_changed", itch=answers[self.itch_item.number], date=day)
        return self.t("sleep_changed", sleep=" ".join(str(answers[k]) for k in sorted(answers)), date=day)

    def redo(self) -> str:
        c = self.ctx
        if c.phase not in DIARY_PHASES:
            return self.t("no_diary")
        if c.diary_date is None:
            return self.outside_window()
        self.begin_diary(redo=True)
        return self.with_question(self.t("redo", date=self.date_text(c.diary_date)), self.itch_question())

    def lesions(self, kw: str) -> str:
        c = self.ctx
        if c.phase != "long_term":
            return self.t("later")
        today = c.now_local.date()
        if kw == "CLEAR":
            self.effects.append(ReportClearance())
            self.to_idle()
            # The first clearance of a cycle dates it: a second CLEAR keeps that stop day,
            # and after the stop day (the weekly check-in answered CLEAR) there is nothing to apply.
            until = cycles.stop_day(c.cleared_on or today, self.rules.stop_treatment_after_days)
            if until <= today:
                return self.t("still_clear")
            return self.t("clear", until=self.date_text(until))
        self.effects.append(ReportRecurrence())
        self.to_idle()
        self.s.update(q="spread", asked_on=today.isoformat())
        return self.t("flare")

    def answer_spread(self, kw: str | None) -> str:
        if kw == "YES":
            self.effects.append(ReportSpread(True))
            self.to_idle()
            return self.t("spread_yes", **self.site())
        if kw == "NO":
            self.effects.append(ReportSpread(False))
            self.to_idle()
            return self.t("spread_no")
        return self.reask("spread_reask", "unclear")

    # -- proactive prompts -------------------------------------------------------------

    def start(self, kind: str) -> str:
        c = self.ctx
        if c.opted_out or c.phase in ENDED_PHASES:
            return ""  # never text an opted-out number (Twilio 21610) or a finished participant
        self.drop_stale()
        self.s["thanked"] = False  # a prompt now stands between the thank-you and the next text
        program = self.program()
        if kind in ("diary", "reminder"):
            return self.start_diary(kind)
        if kind == "h12":
            if not c.h12_open or c.h12_done:
                return ""
            diary = self.s if self.s["q"] in ("itch", "promis") else None
            resume = {k: v for k, v in diary.items() if k not in ("idle", "resume")} if diary else None
            self.to_idle()
            self.s.update(q="h12", resume=resume)
            return self.with_question(self.t("h12_prompt", program=program), self.itch_question("H12"))
        if kind == "optin_confirmation":
            return self.t("opt_in", program=program)
        if kind == "visit_reminder":
            if c.visit_date is None:
                return ""
            if isinstance(c.visit_date, datetime):
                when = dates.sms_when(c.visit_date, c.now_local.date(), self.lang)
            else:
                when = dates.sms_day(c.visit_date, c.now_local.date(), self.lang)
            return self.t("visit_reminder", program=program, when=when, **self.site())
        # The treatment-cycle prompts belong to the long-term phase only.
        if c.phase != "long_term":
            return ""
        if kind == "lesion_checkin":
            return self.t("lesion_checkin", program=program)
        if kind == "stop_treatment":
            return self.t("stop_treatment", program=program)
        until = cycles.stop_day(c.now_local.date(), self.rules.stop_treatment_after_days)
        return self.t("keep_treating", program=program, until=self.date_text(until))

    def start_diary(self, kind: str) -> str:
        c = self.ctx
        if self.open_diary() is None:
            return ""
        day = self.date_text(c.diary_date)
        itch = self.current(ITCH).get(self.itch_item.number)
        self.begin_diary(redo=False)
        if itch is None:
            question = self.itch_question()
            if kind == "diary":
                return self.with_question(self.t("diary_prompt", program=self.program(), date=day), question)
            closes = dates.format_time(self.rules.window_closes, self.lang)
            return self.with_question(self.t("reminder", date=day, closes=closes), question)
        if not self.s["todo"]:
            self.to_idle()
            return ""  # tonight's diary is complete: nothing to prompt
        self.s.update(q="promis", itch=itch)
        left, n = len(self.s["todo"]), len(self.promis.items)
        return self.with_question(self.t("unfinished", date=day, left=left, n=n),
                                  self.promis_question(self.s["todo"][0]))
