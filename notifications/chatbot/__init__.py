"""The SMS chatbot, pure: a state machine (machine.py) over the patient's words (parsing.py) and texts (texts.py).

No database, no clock, no Django: notifications.inbound and the scheduler's dispatch
give it a Context and carry out the effects it returns.
"""

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
from notifications.chatbot.machine import ENDED_PHASES, START_KINDS, handle, media_reply, start

__all__ = [
    "ENDED_PHASES", "START_KINDS", "AnswerRefused", "Context", "OptIn", "OptOut", "Outcome", "RecordAnswers",
    "ReportClearance",
    "ReportRecurrence", "ReportSpread", "Result", "SendLink", "UnknownInput", "handle", "media_reply", "start",
]
