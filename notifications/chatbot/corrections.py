"""Corrections are explicit: after a complete diary a number changes nothing by itself.

A repeat of tonight's answers is said to be one; anything else is asked about ("You
already sent itch 6 for Tue 4 Mar. Change it to 4? Reply YES or NO") and only YES
supersedes. CHANGE (or UNDO) starts tonight's diary again. The question expires with the
diary window (base.drop_stale).
"""

from __future__ import annotations

from notifications.chatbot.base import DIARY_PHASES, ITCH, PROMIS, BotBase
from notifications.chatbot.effects import Outcome, RecordAnswers, UnknownInput


class Corrections(BotBase):
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
