"""Reading patients' texts: a table of what each shape means, and properties that hold for any text."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifications.chatbot import (
    ENDED_PHASES,
    START_KINDS,
    OptOut,
    RecordAnswers,
    handle,
    start,
)
from notifications.chatbot.parsing import is_courtesy, is_revocation, keyword, normalize, read_number, read_numbers
from tests.notifications.chatbot.test_machine import CHICAGO, RULES, make_ctx

# CHATBOT_EXAMPLES=5000 for a longer search. Hypothesis runs many examples inside one
# test; the suite's autouse settings fixture is function-scoped but only sets constants,
# so sharing it across examples is harmless.
PROPERTY = settings(
    max_examples=int(os.environ.get("CHATBOT_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize(
    "text, value",
    [
        ("7", 7),
        (" 7 ", 7),
        ("07", 7),
        ("7/10", 7),
        ("7 / 10", 7),
        ("7 out of 10", 7),
        ("7 de 10", 7),
        ("itch 7", 7),
        ("Itch: 7", 7),
        ("seven", 7),
        ("Seven.", 7),
        ("siete", 7),
        ("I'd say 6", 6),
        ("I\u2019d say 6", 6),
        ("6.", 6),
        ("6!", 6),
        ("６", 6),
        ("１０", 10),
        ("10/10", 10),
        ("zero", 0),
        ("none", 0),
        ("cero", 0),
        ("Ninguna", 0),
        ("diez", 10),
        ("ocho", 8),
        ("OCHO", 8),
        ("ten", 10),
        ("7 😭", 7),
        ("7\x00", 7),
        ("7 7", 7),  # the same number twice is still one answer
        ("11", 11),  # a number; the range is the chatbot's business
        ("9999999999999999999999", 10**6),
    ],
)
def test_one_number_in_many_shapes(text, value):
    reading = read_number(normalize(text), scale_max=10)
    assert (reading.kind, reading.value) == ("number", value)


@pytest.mark.parametrize(
    "text",
    ["7 or 8", "7 o 8", "5-6", "5 - 6", "7 8", "10/10 lol 3", "6.5", "6,5", "6, 5", "-3", "3/5", "seven or eight",
     "7:30", "between 4 and 5"],
)  # fmt: skip
def test_several_or_partial_numbers_are_ambiguous(text):
    assert read_number(normalize(text), scale_max=10).kind == "ambiguous"


@pytest.mark.parametrize("text", ["", "   ", "blah", "😀", "\x00\x01", "a lot", "muchísimo", "no itch today"])
def test_no_number(text):
    assert read_number(normalize(text), scale_max=10).kind == "none"


def test_a_fraction_of_the_scale_maximum_reads_on_a_five_point_item():
    assert read_number(normalize("3/5"), scale_max=5).value == 3
    assert read_number(normalize("3/10"), scale_max=5).kind == "ambiguous"


@pytest.mark.parametrize(
    "text, numbers",
    [
        ("3 2 4 1 5 3 2 2", [3, 2, 4, 1, 5, 3, 2, 2]),
        ("3,2,4,1,5,3,2,2", [3, 2, 4, 1, 5, 3, 2, 2]),
        ("3, 2, 4, 1, 5, 3, 2, 2.", [3, 2, 4, 1, 5, 3, 2, 2]),
        ("３ ２ ４", [3, 2, 4]),
        ("3;2", [3, 2]),
        ("7", [7]),
        ("sleep 3 2 4", None),
        ("3-2-4", None),
        ("", None),
    ],
)
def test_a_list_of_numbers(text, numbers):
    assert read_numbers(normalize(text)) == numbers


@pytest.mark.parametrize(
    "text, name",
    [
        ("STOP", "STOP"),
        ("stop.", "STOP"),
        ("  Stop!! ", "STOP"),
        ("Stop please", "STOP"),
        ("OPT-OUT", "STOP"),
        ("opt out", "STOP"),
        ("StopAll", "STOP"),
        ("¡Alto!", "STOP"),
        ("BÁJA", "STOP"),
        ("Detener por favor", "STOP"),
        ("start", "START"),
        ("Alta", "START"),
        ("INICIO", "START"),
        ("help?", "HELP"),
        ("Ayúda", "HELP"),
        ("info", "HELP"),
        ("Link", "LINK"),
        ("ENLACE", "LINK"),
        ("Undo", "CHANGE"),
        ("deshacer", "CHANGE"),
        ("clear", "CLEAR"),
        ("Limpia", "CLEAR"),
        ("FLARE!", "FLARE"),
        ("brote", "FLARE"),
        ("Sí", "YES"),
        ("yes", "YES"),
        ("no", "NO"),
        ("stop stop", "STOP"),
        ("please stop texting me now because", None),  # a sentence: see is_revocation
        ("the end", None),
        ("7", None),
        ("", None),
        ("thank you", None),
    ],
)
def test_keywords(text, name):
    assert keyword(normalize(text)) == name


@pytest.mark.parametrize(
    "text, revokes",
    [
        ("Please stop texting me", True),
        ("STOP SENDING THESE", True),
        ("no more messages please", True),
        ("Don't text me", True),
        ("do not contact me", True),
        ("how do I unsubscribe", True),
        ("No me envíen más", True),
        ("no quiero mas mensajes", True),
        ("dejen de escribirme", True),
        ("I can't stop scratching", False),
        ("stop the itch", False),
        ("no more itch!", False),
        ("7", False),
    ],
)
def test_revocation_sentences(text, revokes):
    assert is_revocation(normalize(text)) is revokes


@pytest.mark.parametrize("text, courtesy", [("ok", True), ("Thanks!", True), ("👍", True), ("gracias", True),
                                            ("", False), ("ok 7", False), ("blah", False)])  # fmt: skip
def test_courtesy(text, courtesy):
    assert is_courtesy(normalize(text)) is courtesy


# -- properties ---------------------------------------------------------------------------

MEANINGFUL = st.sampled_from(
    ["7", "0", "10", "11", "3", "5", "6", "-1", "seven", "siete", "3 2 4 1 5 3 2 2", "6 6 6 6 6 6 6 6", "7/10",
     "STOP", "START", "YES", "NO", "sí", "HELP", "LINK", "CHANGE", "UNDO", "CLEAR", "FLARE", "ok", "", "😀", "７",
     "Very much", "a veces", "nada", "\x00", "7 or 8"]
)  # fmt: skip
TEXTS = st.one_of(MEANINGFUL, st.text(max_size=60), st.text(alphabet="0123456789 ,./-", max_size=30))
STATES = st.one_of(
    st.just({}),
    st.none(),
    st.fixed_dictionaries(
        {
            "q": st.sampled_from([None, "itch", "promis", "h12", "spread", "bogus", 3]),
            "date": st.sampled_from([None, "2025-03-04", "2025-03-03", "junk"]),
            "todo": st.lists(st.integers(-2, 12), max_size=9),
            "itch": st.one_of(st.none(), st.integers(-5, 20)),
            "promis": st.dictionaries(st.sampled_from(["1", "2", "8", "9", "x"]), st.integers(-2, 9)),
            "tries": st.integers(-1, 5),
            "thanked": st.booleans(),
            "fix": st.booleans(),
            "asked_on": st.sampled_from([None, "2025-03-04", "2025-03-01"]),
            "resume": st.one_of(st.none(), st.just({"q": "promis", "date": "2025-03-04", "todo": [9, 2]})),
            "idle": st.sampled_from([None, ["2025-03-04", 9], "x"]),
        }
    ),
)
CURRENT = st.fixed_dictionaries(
    {},
    optional={
        "ITCH_NRS": st.dictionaries(st.integers(0, 2), st.integers(-1, 12)),
        "PROMIS_SD8B": st.dictionaries(st.integers(0, 9), st.integers(-1, 7)),
    },
)


@st.composite
def contexts(draw):
    return replace(
        make_ctx(draw(st.sampled_from(["en", "es", "fr"]))),
        phase=draw(st.sampled_from(["runin", "vc", "long_term", "completed", "withdrawn"])),
        opted_out=draw(st.booleans()),
        diary_date=draw(st.sampled_from([None, date(2025, 3, 4)])),
        h12_open=draw(st.booleans()),
        h12_done=draw(st.booleans()),
        current=draw(CURRENT),
        web_link=draw(st.sampled_from([None, "https://eprp.test/d/x"])),
        visit_date=draw(st.sampled_from([None, date(2025, 3, 5), datetime(2025, 3, 5, 10, tzinfo=CHICAGO)])),
    )


def check_result(result, ctx):
    assert isinstance(result.reply, str)
    json.dumps(result.state)
    for effect in result.effects:
        if not isinstance(effect, RecordAnswers):
            continue
        # Nothing is stored for a participant who opted out or left the study.
        assert not ctx.opted_out and ctx.phase not in ENDED_PHASES
        instrument = RULES.instrument(effect.instrument)
        assert effect.answers
        for number, answer in effect.answers.items():
            assert answer in instrument.item(number).choices, (effect, answer)
        if effect.timepoint == "DAILY":
            assert effect.diary_date == ctx.diary_date is not None
        else:
            assert (effect.timepoint, effect.diary_date, ctx.h12_open) == ("H12", None, True)


@PROPERTY
@given(state=STATES, text=TEXTS, ctx=contexts())
def test_no_text_and_no_stored_state_crashes_handle(state, text, ctx):
    check_result(handle(state, text, ctx), ctx)


@PROPERTY
@given(texts=st.lists(TEXTS, max_size=15), ctx=contexts(), kind=st.sampled_from(START_KINDS))
def test_conversations_only_ever_record_valid_answers(texts, ctx, kind):
    result = start(kind, ctx)
    check_result(result, ctx)
    state = result.state
    for text in texts:
        result = handle(state, text, ctx)
        check_result(result, ctx)
        state = result.state


@PROPERTY
@given(n=st.integers(0, 10), before=st.sampled_from(["", " ", "itch ", "I'd say ", "\t"]),
       after=st.sampled_from(["", " ", ".", "/10", "!", " 😀"]))  # fmt: skip
def test_a_number_with_any_decoration_reads_as_itself(n, before, after):
    assert read_number(normalize(f"{before}{n}{after}"), scale_max=10).value == n


@PROPERTY
@given(state=STATES)
def test_stop_opts_out_from_any_state(state):
    result = handle(state, "STOP", make_ctx())
    assert result.effects == [OptOut()]
    assert result.state["q"] is None


@PROPERTY
@given(text=st.text(max_size=400))
def test_parsing_is_total(text):
    norm = normalize(text)
    assert read_number(norm, scale_max=10).kind in ("number", "ambiguous", "none")
    read_numbers(norm)
    keyword(norm)
    is_revocation(norm)
    is_courtesy(norm)
