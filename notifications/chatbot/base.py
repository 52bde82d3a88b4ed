"""The chatbot's common ground: what every part of the conversation reads and says.

`BotBase` holds one inbound text's (or one prompt's) work: the context, the state being
changed, the effects collected, and the helpers every step uses (texts, the study's
items as a text asks them, the cap on replies to unexpected texts, staleness, re-asks).
The steps themselves are mixins beside it: diary.py (answers to tonight's diary),
corrections.py (YES/NO, CHANGE, repeats), lesions.py (the long-term phase),
prompts.py (proactive prompts); machine.py puts them together.
"""

from __future__ import annotations

from datetime import date

from diaries.protocol import dates, sms
from diaries.protocol.study_config import Instrument, Item
from notifications.chatbot import texts
from notifications.chatbot.effects import Context, Outcome, UnknownInput
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


class BotBase:
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
        """The itch question in the words a text asks it (the study's SMS form where it gives one)."""
        return sms.item_text(self.itch_item, self.lang, timepoint)

    def itch_range(self) -> dict:
        item = self.itch_item
        return {
            "lo": item.min,
            "hi": item.max,
            "low": item.anchor_low.get(self.lang) or item.anchor_low.get("en", ""),
            "high": item.anchor_high.get(self.lang) or item.anchor_high.get("en", ""),
        }

    def options_text(self, item: Item) -> str:
        return sms.options_text(item, self.lang)

    def program(self) -> str:
        return texts.program_name(self.rules.program_name, self.lang)

    def with_question(self, lead: str, question: str) -> str:
        """`lead` and the question in one text when that fits the budget; else the question alone.

        The question always fits by itself: the study loader refuses one that cannot
        (diaries/protocol/sms.py). What the bot says before it is left out rather than push
        a reply into another segment.
        """
        joined = f"{lead} {question}" if lead else question
        return joined if sms.fits(self.lang, joined) else question

    def promis_question(self, number: int) -> str:
        """A sleep item as a text asks it: "3/8 <question> 1 Not at all, ..." (sms.item_text)."""
        return sms.item_text(self.promis.item(number), self.lang, k=number, n=len(self.promis.items))

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

    # -- staleness, re-asks ------------------------------------------------------------------

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
