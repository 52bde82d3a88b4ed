"""Proactive prompts: the diary and its reminder, the 12-hour itch, the treatment-cycle and visit texts."""

from __future__ import annotations

from datetime import datetime

from diaries.protocol import cycles, dates
from notifications.chatbot.base import ENDED_PHASES, ITCH, BotBase

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


class Prompts(BotBase):
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
