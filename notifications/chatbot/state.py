"""The chatbot's memory between texts: a small JSON document on the conversation row.

Conversation state:

    {"v": 1,
     "q": None | "itch" | "promis" | "h12" | "spread" | "confirm",   # the question we are waiting for
     "date": "2025-03-03" | None,  # the diary date of the diary in progress / just thanked
     "todo": [4, 5, 6, 7, 8],      # PROMIS items still to ask, next first
     "itch": 7 | None,             # itch answered in this run (thank-you text)
     "promis": {"1": 3, ...},      # PROMIS answers of this evening so far (as typed)
     "tries": 0,                   # re-asks of the pending question (at most MAX_REASKS)
     "fix": False,                 # the pending itch question corrects a thanked diary
     "thanked": False,             # the thank-you for `date` was the last thing said
     "resume": None | {...},       # the diary question the H12 prompt interrupted
     "asked_on": "2025-03-03" | None,  # when the spread question was asked
     "confirm": None | {"code": "ITCH_NRS", "answers": {"1": 4}},  # a change asked about (YES/NO)
     "idle": ["open 2025-03-03", 2]}  # replies to unexpected texts in this diary period

Whatever is stored, `load_state` gives a well-formed state: a row written by an older
version or edited by hand never breaks a patient's conversation.
"""

from __future__ import annotations

from datetime import date

QUESTIONS = ("itch", "promis", "h12", "spread", "confirm")


def empty_state(idle=None) -> dict:
    return {
        "v": 1,
        "q": None,
        "date": None,
        "todo": [],
        "itch": None,
        "promis": {},
        "tries": 0,
        "fix": False,
        "thanked": False,
        "resume": None,
        "asked_on": None,
        "confirm": None,
        "idle": idle,
    }


def _iso(value) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _confirm(raw) -> dict | None:
    """A pending "Change it to 4? Reply YES or NO": which instrument, and the answers (item -> option)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("code"), str) or not isinstance(raw.get("answers"), dict):
        return None
    answers = {str(k): v for k, v in raw["answers"].items() if str(k).isdecimal() and is_int(v)}
    return {"code": raw["code"][:40], "answers": answers} if answers else None


def load_state(raw, nested: bool = False) -> dict:
    """A clean state from whatever was stored (older shapes, hand edits): bad fields become defaults."""
    s = empty_state()
    if not isinstance(raw, dict):
        return s
    s["q"] = raw.get("q") if raw.get("q") in QUESTIONS else None
    s["date"] = _iso(raw.get("date"))
    todo = raw.get("todo")
    s["todo"] = [n for n in todo if is_int(n)] if isinstance(todo, list) else []
    s["itch"] = raw.get("itch") if is_int(raw.get("itch")) else None
    promis = raw.get("promis")
    if isinstance(promis, dict):
        s["promis"] = {str(k): v for k, v in promis.items() if str(k).isdecimal() and is_int(v)}
    s["tries"] = raw.get("tries") if is_int(raw.get("tries")) else 0
    s["fix"] = raw.get("fix") is True
    s["thanked"] = raw.get("thanked") is True
    s["asked_on"] = _iso(raw.get("asked_on"))
    idle = raw.get("idle")
    if isinstance(idle, list) and len(idle) == 2 and isinstance(idle[0], str) and len(idle[0]) <= 40 \
            and is_int(idle[1]):
        s["idle"] = [idle[0], idle[1]]
    s["confirm"] = _confirm(raw.get("confirm"))
    if s["q"] == "confirm" and s["confirm"] is None:
        s["q"] = None
    if not nested and isinstance(raw.get("resume"), dict):
        resume = load_state(raw["resume"], nested=True)
        s["resume"] = resume if resume["q"] in ("itch", "promis") else None
    return s
