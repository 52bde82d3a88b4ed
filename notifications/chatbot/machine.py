"""The SMS chatbot: a pure state machine over one participant's conversation.

    handle(state, text, ctx) -> Result      an inbound text
    start(kind, ctx, state=None) -> Result  a proactive prompt the scheduler sends

No database, no clock, no Django models: notifications.inbound reads the conversation
row (under a row lock), builds a `Context`, calls `handle`, applies `Result.effects`
through diaries (`submit_diary`, the treatment reports), stores `Result.state` back and
sends `Result.reply` ("" means send nothing). Everything the bot needs to know about the world (time,
windows, what is already recorded) comes in `Context`; everything it wants done
goes out as effects.

The conversation state it keeps between texts is described in state.py. The steps live
beside this module: base.py (what every step uses), diary.py (tonight's answers),
corrections.py (YES/NO, CHANGE, repeats), lesions.py (CLEAR, FLARE), prompts.py.
"""

from __future__ import annotations

from notifications.chatbot import parsing, texts
from notifications.chatbot.base import DIARY_PHASES, ENDED_PHASES
from notifications.chatbot.corrections import Corrections
from notifications.chatbot.diary import DiaryFlow
from notifications.chatbot.effects import Context, OptIn, OptOut, Outcome, Result, SendLink
from notifications.chatbot.lesions import LesionReports
from notifications.chatbot.prompts import START_KINDS, Prompts

__all__ = ["DIARY_PHASES", "ENDED_PHASES", "START_KINDS", "handle", "media_reply", "start"]


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


class _Bot(DiaryFlow, Corrections, LesionReports, Prompts):
    """One inbound text (`handle`) or one prompt (`start`): reads the keywords, then the pending question."""

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
