"""What goes into the chatbot (Context) and what comes out (Result: the new state, the reply, the effects).

Effects are what the service applies, in order, inside the same transaction
(notifications.inbound): record answers, audit a refused one, consent, treatment reports, a link.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from diaries.protocol.study_config import StudyConfig


@dataclass(frozen=True)
class Context:
    """What the service knows about the participant and the moment, filled in per message."""

    rules: StudyConfig
    language: str  # "en" | "es"
    phase: str  # "runin", "vc", "long_term", "completed", "withdrawn"
    opted_out: bool
    now_local: datetime  # aware, in the participant's zone
    diary_date: date | None  # the evening window open right now; None when closed
    next_window_opens: datetime  # local, aware: for "your next diary opens ..."
    h12_open: bool
    h12_done: bool
    current: dict[str, dict[int, int]]  # answers current for diary_date: code -> {item: option as typed}
    site_name: str
    site_phone: str
    site_hours: str = ""
    web_link: str | None = None  # included in the reply to LINK; None: SendLink and "the link will follow"
    visit_date: date | datetime | None = None  # for "visit_reminder"
    # Long-term phase: the clearance date of the open cycle, when lesions were already
    # reported clear and have not come back (a second CLEAR keeps the first one's stop day).
    cleared_on: date | None = None


# Effects: what the service applies, in order, inside the same transaction.
@dataclass(frozen=True)
class RecordAnswers:
    """Answers as typed (option numbers); the service applies reversal with Item.score_of.

    PROMIS one by one: one RecordAnswers after each item carrying every answer of the
    evening so far; each supersedes the previous record, so stopping after 5 items keeps 5.
    """

    instrument: str
    timepoint: str  # "DAILY" | "H12"
    diary_date: date | None  # None for H12: the service dates it
    answers: dict[int, int]


@dataclass(frozen=True)
class AnswerRefused:
    """An answer the bot itself refuses (a number outside the window, out of range): audited once.

    The same record of a refused diary as the web and the app leave; `answers` holds what
    the text was read as ({} when it could not be read as an answer).
    """

    reason: str  # "outside_window" | "invalid_answer" (diaries.diary.Reason)
    timepoint: str
    answers: dict[str, dict[int, int]]


@dataclass(frozen=True)
class OptOut:
    pass


@dataclass(frozen=True)
class OptIn:
    pass


@dataclass(frozen=True)
class ReportClearance:
    pass


@dataclass(frozen=True)
class ReportRecurrence:
    pass


@dataclass(frozen=True)
class ReportSpread:
    new_or_extensive: bool  # True: the service raises a site alert


@dataclass(frozen=True)
class SendLink:
    pass


@dataclass(frozen=True)
class UnknownInput:
    """For the log: what kind of text could not be used. Never carries the body (PHI)."""

    text_kind: str  # "unclear", "out_of_range", "unexpected", "outside_window"


@dataclass(frozen=True)
class Outcome:
    """For the inbound row: what a text came to, when no other effect says it. Never carries the body.

    "corrected", "repeat", "confirm_asked", "kept", "keyword", or "no_reply:<why>"
    ("no_reply:daily_limit", "no_reply:courtesy", "no_reply:opted_out").
    """

    kind: str


@dataclass(frozen=True)
class Result:
    state: dict
    reply: str
    effects: list = field(default_factory=list)
