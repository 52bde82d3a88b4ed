"""Nothing changes by accident, a diary can always be finished, and the bot is never silent without a reason.

Transcripts in English and Spanish, then a property test over random evenings of texts.
Pure: the fake service `World` of test_machine threads the state and the records.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.chatbot import Outcome, RecordAnswers
from notifications.chatbot.base import MAX_IDLE_REPLIES
from notifications.chatbot.parsing import keyword, normalize
from tests.notifications.chatbot.test_machine import (
    ITCH_CODE,
    Move,
    P,
    Prompt,
    World,
    closed,
    itch,
    make_ctx,
    promis,
    run,
)

SLEEP = (3, 2, 4, 1, 5, 3, 2, 2)
SLEEP_TEXT = " ".join(map(str, SLEEP))


def after_window(language: str) -> Move:
    return Move(closed(make_ctx(language)))


STRAY_NUMBER_EN = [
    ("6", "1/8", [itch(6)]),
    (SLEEP_TEXT, ("Thank you", "itch 6"), [promis(*SLEEP)]),
    ("4", ("You already sent itch 6 for Tue 4 Mar. Change it to 4? Reply YES or NO."), []),
    ("NO", "nothing changed", []),
    ("4", "Change it to 4?", []),
    ("yes", ("Changed", "itch is now 4"), [itch(4)]),
    ("4", ("already sent that", "nothing changed"), []),  # a repeat
    ("5", "Change it to 5?", []),
    after_window("en"),
    ("YES", "did not understand", []),  # the question expired with the window: itch stays 4
]

STRAY_NUMBER_ES = [
    ("6", "1/8", [itch(6)]),
    (SLEEP_TEXT, ("Gracias", "picazón 6"), [promis(*SLEEP)]),
    ("4", ("Ya envió picazón 6", "¿Cambiarla a 4? Responda SÍ o NO."), []),
    ("no", "nada cambió", []),
    ("cuatro", "¿Cambiarla a 4?", []),
    ("Sí", ("Cambiado", "es ahora 4"), [itch(4)]),
    ("4", "nada cambió", []),
    ("5", "¿Cambiarla a 5?", []),
    after_window("es"),
    ("SÍ", "no le entendí", []),
]

RESENT_SLEEP_AFTER_REMINDER = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("5", "1/8", [itch(5)]),
    ("3", "2/8", [promis(3)]),
    ("2", "3/8", [promis(3, 2)]),
    (Prompt("reminder"), ("6 of 8 sleep questions left", "3/8"), []),
    (SLEEP_TEXT, ("Thank you", "itch 5", f"sleep {SLEEP_TEXT}"), [promis(*SLEEP)]),
    (SLEEP_TEXT, "nothing changed", []),  # the same answers again: a repeat
    ("3", "Change it to 3?", []),  # one by one again: each is asked about, none is stored
    ("2", "Change it to 2?", []),
    ("4", "Change it to 4?", []),
]

RESENT_SLEEP_ES = [
    (Prompt("diary"), "mar 4 mar", []),
    ("5", "1/8", [itch(5)]),
    ("3", "2/8", [promis(3)]),
    (Prompt("reminder"), ("Faltan 7 de 8: 2/8",), []),
    (SLEEP_TEXT, ("Gracias", "picazón 5"), [promis(*SLEEP)]),
    (SLEEP_TEXT, "nada cambió", []),
    ("3", "¿Cambiarla a 3?", []),
]

UNCLEAR_THEN_RESUMES = [
    (Prompt("diary"), "Tue 4 Mar", []),
    ("7", "1/8", [itch(7)]),
    ("3", "2/8", [promis(3)]),
    ("lots", "Please reply with one number", []),
    ("??", "Please reply with one number", []),
    ("4 or 5", ("could not read", "Reply with a number when ready"), []),
    ("2", "3/8", [promis(3, 2)]),  # the same item it gave up on
    ("4", "4/8", [promis(3, 2, 4)]),
    ("1", "5/8", [promis(3, 2, 4, 1)]),
    ("5", "6/8", [promis(3, 2, 4, 1, 5)]),
    ("3", "7/8", [promis(3, 2, 4, 1, 5, 3)]),
    ("2", "8/8", [promis(3, 2, 4, 1, 5, 3, 2)]),
    ("2", ("Thank you", "itch 7", f"sleep {SLEEP_TEXT}"), [promis(*SLEEP)]),
]

UNCLEAR_THEN_RESUMES_ES = [
    (Prompt("diary"), "mar 4 mar", []),
    ("7", "1/8", [itch(7)]),
    ("mucho", "Responda con un número", []),
    ("??", "Responda con un número", []),
    ("4 o 5", ("no pude leer", "Responda con un número cuando pueda"), []),
    ("Nada", "2/8", [promis(1)]),  # by its label, at the item it gave up on
    ("2 4 1 5 3 2 2", "Responda con un número", []),  # seven numbers: not all eight
    ("3 2 4 1 5 3 2 2", ("Gracias", f"sueño {SLEEP_TEXT}"), [promis(*SLEEP)]),
]


def cap_mid_diary(language: str, junk: str, limit: str) -> list:
    """Junk mid-diary: re-asked, then paused, then capped; the answers still finish the diary."""
    return [
        (Prompt("diary"), (), []),
        ("7", "1/8", [itch(7)]),
        (junk, "1 ", []),  # re-asked twice with the options
        (junk, "1 ", []),
        (junk, "+", []),  # gave up, with the site's phone: the conversation pauses
        *[(junk, (), [])] * (MAX_IDLE_REPLIES - 1),
        (junk, limit, []),  # the last reply allowed says how to get help
        (junk, "", []),  # silent now, with a reason on the inbound row
        ("3", "2/8", [promis(3)]),  # answers are never capped
        *[(str(v), (), [promis(*SLEEP[: k + 1])]) for k, v in enumerate(SLEEP) if k > 0],
        ("HELP", "STOP", []),  # nor are keywords
    ]


TRANSCRIPTS = {
    "stray_number_en": ("en", STRAY_NUMBER_EN),
    "stray_number_es": ("es", STRAY_NUMBER_ES),
    "resent_sleep_after_reminder": ("en", RESENT_SLEEP_AFTER_REMINDER),
    "resent_sleep_es": ("es", RESENT_SLEEP_ES),
    "unclear_then_resumes": ("en", UNCLEAR_THEN_RESUMES),
    "unclear_then_resumes_es": ("es", UNCLEAR_THEN_RESUMES_ES),
    "cap_mid_diary_en": ("en", cap_mid_diary("en", "I'm driving", "For help call")),
    "cap_mid_diary_es": ("es", cap_mid_diary("es", "Estoy conduciendo", "No le entendí. Ayuda:")),
}


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_transcript(name):
    language, steps = TRANSCRIPTS[name]
    run(World(make_ctx(language)), steps)


def test_a_stray_number_changes_nothing_until_yes_and_the_question_expires_with_the_window():
    world = run(World(make_ctx("en")), STRAY_NUMBER_EN)
    assert world.ctx.current[ITCH_CODE] == {1: 4}
    outcomes = [[e.kind for e in r.effects if isinstance(e, Outcome)] for r in world.log]
    assert outcomes[2:7] == [["confirm_asked"], ["kept"], ["confirm_asked"], ["corrected"], ["repeat"]]


@pytest.mark.parametrize("language", ["en", "es"])
def test_no_answer_to_the_question_keeps_the_itch_score(language):
    world = run(World(make_ctx(language)), [("6", (), [itch(6)]), (SLEEP_TEXT, (), [promis(*SLEEP)]), ("4", (), [])])
    world.move(**closed(world.ctx))  # the window closed without an answer
    assert not [e for e in world.send("yes").effects if isinstance(e, RecordAnswers)]
    assert world.ctx.current[ITCH_CODE] == {1: 6}


def test_the_daily_limit_is_said_once_and_starts_again_with_the_next_window():
    world = run(World(make_ctx("en")), cap_mid_diary("en", "I'm driving", "For help call"))
    silent = [r for r in world.log if not r.reply]
    assert any(Outcome("no_reply:daily_limit") in r.effects for r in silent)
    world.move(**closed(world.ctx))  # the next morning: a new period
    assert "did not understand" in world.send("I'm driving").reply


# -- the property: random evenings -----------------------------------------------------------

TEXTS = st.one_of(
    st.integers(min_value=-2, max_value=12).map(str),
    st.sampled_from([
        "YES", "no", "sí", "CHANGE", "undo", "HELP", "LINK", "thanks", "I'm driving", "often", "a veces",
        "4 or 5", "??", SLEEP_TEXT, "1 1 1 1 1 1 1 1", "5 5 5 5 5 5 5 9", "seven", "7/10",
    ]),
    st.just(Prompt("reminder")),
    st.just(Prompt("diary")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(language=st.sampled_from(["en", "es"]), texts=st.lists(TEXTS, max_size=25),
       itch_answer=st.integers(0, 10), sleep=st.lists(st.integers(1, 5), min_size=8, max_size=8))
def test_itch_changes_only_right_after_an_explicit_yes_change_or_undo(language, texts, itch_answer, sleep):
    """Random texts through an evening, then every item answered one by one while open.

    The current itch record changes only on the first answer, on YES to "Change it?",
    or on the answer to the itch question a CHANGE/UNDO asked; and the diary ends complete.
    """
    world = World(make_ctx(language))
    armed = False  # a CHANGE/UNDO asked the itch question again
    for text in [*texts, str(itch_answer), *map(str, sleep)]:
        before = world.ctx.current.get(ITCH_CODE)
        result = world.prompt(text) if isinstance(text, Prompt) else world.send(text)
        kw = None if isinstance(text, Prompt) else keyword(normalize(text))
        after = world.ctx.current.get(ITCH_CODE)
        if before is not None and after != before:
            assert kw == "YES" or armed, (text, before, after, result.reply)
        if kw == "CHANGE":
            armed = True
        elif world.state["q"] != "itch":
            armed = False
    assert ITCH_CODE in world.ctx.current
    assert len(world.ctx.current.get(P, {})) == 8, world.log[-1].reply
