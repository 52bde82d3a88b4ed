"""The long-term phase by text: CLEAR and FLARE, and whether a flare spread."""

from __future__ import annotations

from diaries.protocol import cycles
from notifications.chatbot.base import BotBase
from notifications.chatbot.effects import ReportClearance, ReportRecurrence, ReportSpread


class LesionReports(BotBase):
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
