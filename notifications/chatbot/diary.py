"""Tonight's diary by text: the itch question, the sleep items one by one (or all at once), the thank-you.

A diary can always be finished while its window is open: a readable answer after a
pause, a reminder or an H12 prompt goes on from the first unanswered item.
"""

from __future__ import annotations

from diaries.protocol import dates
from diaries.protocol.study_config import Item
from notifications.chatbot import parsing
from notifications.chatbot.base import DIARY_PHASES, ITCH, PROMIS, BotBase
from notifications.chatbot.effects import AnswerRefused, RecordAnswers, UnknownInput


class DiaryFlow(BotBase):
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
