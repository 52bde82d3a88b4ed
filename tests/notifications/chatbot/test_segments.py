"""Every text the bot can send fits its segments, with this study's own questions and worst-case values.

The budget (diaries/protocol/sms.py): English, one GSM-7 segment (160 characters); Spanish,
two UCS-2 segments (134 characters) or one where the text stays GSM-7. No exception for a
study question: a question that cannot fit has a shorter SMS form in the study file, and
the loader refuses one that still cannot.

"Every reply the machine can produce" is read, not listed: the conversation is walked
breadth first from every kind of moment (diary open or closed, 12-hour window, each phase,
opted out) through every prompt, keyword and kind of answer, with the longest site, date
and link of the study, until no new conversation state turns up. The walk must meet every
catalogue text the bot says and every item question, so a new text or a new path is
either walked or the test says what it missed.
"""

from __future__ import annotations

import functools
import json
import re
from collections import deque
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diaries.protocol import dates, sms
from diaries.protocol.study_config import ConfigError, parse_study_config
from notifications.chatbot import (
    START_KINDS,
    Context,
    OptIn,
    OptOut,
    RecordAnswers,
    ReportClearance,
    ReportRecurrence,
    handle,
    media_reply,
    start,
    texts,
)
from notifications.chatbot.state import load_state

STUDY = (Path(__file__).resolve().parents[3] / "studies" / "true-ad.toml").read_text()
RULES = parse_study_config(STUDY)
ITCH, PROMIS = RULES.instrument("ITCH_NRS"), RULES.instrument("PROMIS_SD8B")
ZONES = {"en": ZoneInfo("America/Chicago"), "es": ZoneInfo("Europe/Madrid")}
LINK = "https://eprp.example.org/d/" + "x" * 43
# Deep enough for every text: a diary answered all at once and then corrected (prompt, itch,
# all sleep answers, another itch, YES) is five; about 1,200 conversation states a language.
MAX_STEPS = 5
# Texts the bot never sends itself (the app's sign-in code goes out through the outbox).
NOT_FROM_THE_BOT = {"signin_code"}


def longest(values):
    return max(values, key=lambda v: (sms.segments(str(v)), len(str(v))))


def sites(language: str):
    # An English text names the site as configured; a site name outside GSM-7 (an accent)
    # would make it UCS-2, so English is held to the GSM-7 names.
    return [s for s in RULES.sites if language != "en" or sms.is_gsm7(s.name + s.phone + s.hours)]


def longest_date(language: str) -> date:
    """The evening whose short date is longest in the language ("Wed 31 Dec", "mié 31 dic")."""
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(365)]
    return longest_by(days, lambda d: dates.sms_date(d, language))


def longest_by(values, text):
    return max(values, key=lambda v: (sms.segments(text(v)), len(text(v))))


@functools.cache
def longest_when(today: date, zone, language: str) -> datetime:
    """The moment, after today, that is longest to say ("on Wed 17 Dec at 12:30 PM")."""
    moments = [datetime.combine(today + timedelta(days=d), time(h, m), tzinfo=zone)
               for d in range(0, 40) for h in range(24) for m in (0, 30)]
    return longest_by(moments, lambda at: dates.sms_when(at, today, language))


def worst_context(language: str, **changes) -> Context:
    """The participant whose texts are longest: longest site, evening date, next opening, link."""
    zone, evening = ZONES[language], longest_date(language)
    candidates = sites(language)
    ctx = Context(
        rules=RULES, language=language, phase="vc", opted_out=False,
        now_local=datetime.combine(evening, time(21, 30), tzinfo=zone), diary_date=evening,
        next_window_opens=longest_when(evening, zone, language), h12_open=False, h12_done=False, current={},
        site_name=longest(s.name for s in candidates), site_phone=longest(s.phone for s in candidates),
        site_hours=longest(s.hours for s in candidates), web_link=None,
        visit_date=longest_when(evening, zone, language),
    )
    return replace(ctx, **changes)


def closed(ctx: Context) -> Context:
    """The next morning: the window closed, the next one opening as late as is longest to say."""
    morning = datetime.combine(ctx.now_local.date() + timedelta(days=1), time(9, 30), tzinfo=ctx.now_local.tzinfo)
    return replace(ctx, now_local=morning, diary_date=None,
                   next_window_opens=longest_when(morning.date(), morning.tzinfo, ctx.language))


def answers(language: str) -> list[str]:
    """Every kind of inbound text: numbers (the widest), all-at-once, labels, keywords, chatter."""
    labels = [longest(opt.labels[language] for it in PROMIS.items for opt in it.options)]
    return [
        "10", "4", "11", "blah", "5 5 5 5 5 5 5 5", "4 4 4 4 4 4 4 4", "6 6 6 6 6 6 6 6", *sorted(set(labels)),
        "thanks", "YES", "NO", "CHANGE", "HELP", "STOP", "START", "LINK", "CLEAR", "FLARE",
    ]


def moments(language: str) -> list[tuple[Context, int]]:
    """Where a conversation starts, and how deep the walk goes from there.

    The diary window open or closed, the 12-hour window, each later phase: MAX_STEPS deep.
    Tonight's diary stopped after each sleep item (a reminder resumes it, an answer goes
    on, the 12-hour prompt interrupts it): two steps deep, which is all it takes to say
    each item's question after each thing said before it.
    """
    ctx = worst_context(language)
    morning = closed(ctx)
    partial = [
        replace(ctx, h12_open=h12, current={ITCH.code: {1: 10}, PROMIS.code: {n: 5 for n in range(1, k + 1)}})
        for k in range(len(PROMIS.items)) for h12 in (False, True)
    ]
    return [(moment, MAX_STEPS) for moment in (
        ctx,
        morning,
        replace(ctx, h12_open=True),
        replace(morning, h12_open=True),
        replace(morning, phase="long_term"),
        replace(morning, phase="long_term", cleared_on=morning.now_local.date() - timedelta(days=5)),
        replace(ctx, phase="completed"),
    )] + [(moment, 2) for moment in partial]


def one_offs(language: str) -> list[str]:
    """Replies that hang on one value the walk keeps fixed: a link in the reply, a visit on a day, a picture."""
    ctx = worst_context(language)
    return [
        handle({}, "LINK", replace(ctx, web_link=LINK)).reply,
        start("visit_reminder", replace(ctx, visit_date=ctx.now_local.date() + timedelta(days=1))).reply,
        start("visit_reminder", replace(ctx, visit_date=ctx.now_local.date() + timedelta(days=9))).reply,
        media_reply(ctx),
    ]


def applied(ctx: Context, result) -> Context:
    """What the service does between two texts (notifications.inbound), as far as the next Context shows it."""
    current = {k: dict(v) for k, v in ctx.current.items()}
    for effect in result.effects:
        if isinstance(effect, RecordAnswers) and effect.timepoint == "DAILY":
            current[effect.instrument] = dict(effect.answers)
        elif isinstance(effect, RecordAnswers):
            ctx = replace(ctx, h12_done=True)
        elif isinstance(effect, OptOut | OptIn):
            ctx = replace(ctx, opted_out=isinstance(effect, OptOut))
        elif isinstance(effect, ReportClearance):
            ctx = replace(ctx, cleared_on=ctx.cleared_on or ctx.now_local.date())
        elif isinstance(effect, ReportRecurrence):
            ctx = replace(ctx, cleared_on=None)
    return replace(ctx, current=current)


def shape(value):
    """A value as far as a reply's length can tell: a number by its digits, answers by how many."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return len(str(value))
    if isinstance(value, dict):
        return len(value)
    return "x"


def key(state: dict, ctx: Context) -> str:
    """A conversation as far as its replies' lengths can tell (the walk would never end on real values).

    Numbers count by their digits and answers by how many; which item is asked next counts
    (its question), and so does every flag the bot branches on.
    """
    s = load_state(state)
    resume = s["resume"] and [s["resume"]["q"], s["resume"]["todo"][:1]]
    first_open = [it.number for it in PROMIS.items if it.number not in ctx.current.get(PROMIS.code, {})][:1]
    return json.dumps([
        s["q"], s["todo"][:1], len(s["todo"]), shape(s["itch"]), shape(s["promis"]), s["tries"], s["fix"],
        s["thanked"], s["date"] is None, s["asked_on"] is None, (s["idle"] or [None, 0])[1],
        s["confirm"] and [s["confirm"]["code"], shape(s["confirm"]["answers"])], resume,
        {code: [shape(answers), shape(next(iter(answers.values()), None))] for code, answers in ctx.current.items()},
        first_open, ctx.phase, ctx.opted_out, ctx.diary_date is None, ctx.h12_open, ctx.h12_done,
        ctx.cleared_on and (ctx.now_local.date() - ctx.cleared_on).days,
    ])


@functools.cache
def every_reply(language: str) -> frozenset[str]:
    """Walk the conversation from every moment, MAX_STEPS texts or prompts deep; every reply on the way."""
    replies = set(one_offs(language))
    seen: set[str] = set()
    inbound = answers(language)
    for moment, deepest in moments(language):
        todo = deque([({}, moment, 0)])
        while todo:
            state, ctx, depth = todo.popleft()
            if depth >= deepest or (k := key(state, ctx)) in seen:
                continue
            seen.add(k)
            steps = [("send", text) for text in inbound] + [("start", kind) for kind in START_KINDS]
            for how, what in steps:
                result = handle(state, what, ctx) if how == "send" else start(what, ctx, state)
                replies.add(result.reply)
                todo.append((result.state, applied(ctx, result), depth + 1))
            if ctx.diary_date is not None:  # the same conversation the next morning
                todo.append((state, closed(ctx), depth + 1))
    replies.discard("")
    return frozenset(replies)


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_reply_the_bot_can_send_fits_its_segments(language):
    too_long = [(sms.describe(language, r), r) for r in every_reply(language) if not sms.fits(language, r)]
    assert not too_long, too_long


def test_english_replies_are_gsm7():
    for reply in every_reply("en"):
        assert sms.is_gsm7(reply), [c for c in reply if not sms.is_gsm7(c)]


def template(text: str, language: str) -> re.Pattern:
    """A catalogue text as a pattern its renderings match (the programme's name as it is, other placeholders: anything)."""
    text = text.replace("{program}", texts.program_name(RULES.program_name, language))
    return re.compile(".+?".join(re.escape(part) for part in re.split(r"{\w+}", text)), re.S)


@pytest.mark.parametrize("language", ["en", "es"])
def test_the_walk_meets_every_text_and_every_question(language):
    """The proof the walk is whole: each catalogue text and each item's SMS question was said on the way."""
    said = "\n".join(every_reply(language))
    missed = [k for k, text in texts.CATALOG[language].items()
              if k not in NOT_FROM_THE_BOT and not template(text, language).search(said)]
    assert not missed, missed
    for inst in (ITCH, PROMIS):
        for n, item in enumerate(inst.items, start=1):
            for tp in inst.timepoints:
                assert sms.item_text(item, language, tp, k=n, n=len(inst.items)) in said, (item.id, tp)


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_catalogue_text_fits_with_the_longest_values(language):
    """Each text alone, with the longest value each placeholder takes in this study."""
    values = worst_values(language)
    for k, text in texts.CATALOG[language].items():
        rendered = text.format(**values)
        assert sms.fits(language, rendered), (k, sms.describe(language, rendered), rendered)
    for reply in texts.UNKNOWN_SENDER.values():  # English and Spanish together: UCS-2, two segments
        assert sms.fits("es", reply), reply


def worst_values(language: str) -> dict:
    candidates = sites(language)
    days = [date(2025, 1, 1) + timedelta(days=n) for n in range(366)]
    today = date(2025, 3, 4)
    itch = ITCH.items[0]
    return {
        "program": texts.program_name(RULES.program_name, language),
        "site": longest(s.name for s in candidates), "phone": longest(s.phone for s in candidates),
        "hours": " (" + longest(s.hours for s in candidates) + ")", "link": LINK,
        "when": dates.sms_when(longest_when(today, ZONES[language], language), today, language),
        "date": longest(dates.sms_date(d, language) for d in days),
        "until": longest(dates.sms_date(d, language) for d in days),
        "closes": longest(dates.format_time(time(h, m), language) for h in range(24) for m in (0, 30)),
        "itch": 10, "old": "5 5 5 5 5 5 5 5", "new": "5 5 5 5 5 5 5 5", "sleep": "5 5 5 5 5 5 5 5",
        "n": len(PROMIS.items), "k": len(PROMIS.items), "left": len(PROMIS.items), "max": 5,
        "lo": itch.min, "hi": itch.max, "low": itch.anchor_low[language], "high": itch.anchor_high[language],
        "options": longest(sms.options_text(it, language) for it in PROMIS.items), "code": "12345678",
    }


# -- the study loader refuses a question that cannot fit ------------------------------------


def test_the_full_spanish_itch_question_would_not_fit_and_the_loader_says_which():
    without = re.sub(r"(?m)^sms_(h12_)?text\.es = .*\n", "", STUDY)
    with pytest.raises(ConfigError) as refused:
        parse_study_config(without)
    problems = refused.value.problems
    assert any(p.startswith("instruments[0].items[0].text.es: item ITCH01") and "149 characters, 3 UCS-2" in p
               and "sms_text.es" in p for p in problems), problems
    assert any(p.startswith("instruments[0].items[0].h12_text.es: item ITCH01") and "178 characters" in p
               and "sms_h12_text.es" in p for p in problems), problems
    assert len(problems) == 2, problems


def test_a_study_stored_before_the_check_still_reads():
    """Study.rules parses the stored TOML without the budget: a running study never stops at a deploy."""
    without = re.sub(r"(?m)^sms_(h12_)?text\.es = .*\n", "", STUDY)
    stored = parse_study_config(without, sms_budget=False)
    assert stored.instrument("ITCH_NRS").items[0].sms_question("es").startswith("En una escala de 0 a 10")


def test_an_sms_form_that_still_cannot_fit_is_refused():
    longer = STUDY.replace('sms_text.es = "¿Qué', 'sms_text.es = "En una escala de 0 a 10, por favor, ¿qué', 1)
    with pytest.raises(ConfigError) as refused:
        parse_study_config(longer)
    assert [p.split(":")[0] for p in refused.value.problems] == ["instruments[0].items[0].sms_text.es"]


def test_a_sleep_item_counts_its_number_and_options_too():
    """An options item is asked as "8/8 <question> 1 Not at all, ..." : the words around it count."""
    item = PROMIS.items[3].text["en"]
    padded = STUDY.replace(f'text.en = "{item}"', f'text.en = "{item} {"x" * (160 - 70 - len(item))}"', 1)
    with pytest.raises(ConfigError) as refused:
        parse_study_config(padded)
    assert refused.value.problems[0].startswith("instruments[1].items[3].text.en: item Sleep44: the question"), \
        refused.value.problems


def test_an_sms_form_in_a_language_the_study_has_not_is_refused():
    odd = STUDY.replace('sms_text.es = "', 'sms_text.pl = "Jak bardzo?"\nsms_text.es = "', 1)
    with pytest.raises(ConfigError, match=r"sms_text\.pl: not a study language"):
        parse_study_config(odd)


def test_the_web_and_the_app_keep_the_full_text():
    item = ITCH.items[0]
    assert item.question("es").startswith("En una escala de 0 a 10")
    assert item.sms_question("es") == item.sms_text["es"] != item.question("es")
    assert item.sms_question("es", "H12") == item.sms_h12_text["es"]
    assert item.sms_question("en") == item.question("en")  # English fits as validated


@pytest.mark.parametrize(
    "text, count",
    [
        ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
        ("[" * 80, 1), ("[" + "a" * 159, 2),  # an extension character counts two
        ("á" * 70, 1), ("á" * 71, 2), ("á" * 134, 2), ("á" * 135, 3),  # UCS-2: 70, then 67 a segment
        ("😀" * 35, 1), ("😀" * 36, 2),  # an emoji is two UTF-16 units
    ],
)
def test_segments_are_counted_the_way_twilio_counts_them(text, count):
    assert sms.segments(text) == count


@pytest.mark.parametrize(
    "language, text, fits",
    [
        ("en", "a" * 160, True), ("en", "a" * 161, False), ("en", "á" * 70, True), ("en", "á" * 71, False),
        ("es", "á" * 134, True), ("es", "á" * 135, False),
        ("es", "a" * 160, True), ("es", "a" * 161, False),  # a Spanish text in GSM-7: one segment
    ],
)
def test_the_budget_is_one_segment_in_english_two_in_ucs2(language, text, fits):
    assert sms.fits(language, text) is fits


# -- what is said before a question stays, on the longest evening -----------------------------

LEADS = {
    "en": {
        "diary": "Skin Diary, diary for {date}: On a scale of 0 to 10",
        "reminder": "Reminder, {date} until 3:00 AM: On a scale",
        "h12": "Skin Diary: On a scale of 0 to 10, how bad was your itch at its worst in the past 12 hours",
        "itch_saved": "Itch 10 saved. 1/8 In the past 24 hours",
        "unfinished": "2 of 8 sleep questions left: 7/8 In the past 24 hours, I got enough sleep.",
        "redo": "OK, starting again for {date}. On a scale",
        "h12_thanks": "Thanks! 12-hour itch 10 saved. 7/8 In the past 24 hours",
        "confirm": "You already sent itch 10 for {date}. Change it to 9? Reply YES or NO.",
        "changed": "Changed: itch is now 9 for {date}. Thank you!",
    },
    "es": {
        "diary": "Diario de la piel, {date}: ¿Qué tan fuerte fue su peor picazón en las últimas 24 horas?",
        "reminder": "{date}, hasta las 3:00: ¿Qué tan fuerte",
        "h12": "Diario de la piel: ¿Qué tan fuerte fue su peor picazón desde su primer tratamiento (12 h)?",
        "itch_saved": "Picazón 10 guardada. 1/8 En las últimas 24 horas",
        "unfinished": "Faltan 2 de 8: 7/8 En las últimas 24 horas, dormí lo suficiente.",
        "redo": "Empezamos de nuevo, {date}: ¿Qué tan fuerte",
        "h12_thanks": "Picazón 12 h (10) guardada. 7/8 En las últimas 24 horas",
        "confirm": "Ya envió picazón 10 para el {date}. ¿Cambiarla a 9? Responda SÍ o NO.",
        "changed": "Cambiado: su picazón del {date} es ahora 9. ¡Gracias!",
    },
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_prompts_reminders_and_confirmations_keep_their_words_and_fit(language):
    """The diary prompt names the programme and the evening, the reminder its deadline, and so on: in one text."""
    ctx = worst_context(language)
    day = dates.sms_date(ctx.diary_date, language)
    assert len(day) == 10  # the longest evening ("Fri 10 Jan", "mié 31 dic")
    # Two sleep questions left, as in "2 of 8 sleep questions left" (with the longest sleep item
    # still to ask, the words before it may be left out: the walk above holds that the text fits).
    six = replace(ctx, current={ITCH.code: {1: 10}, PROMIS.code: {n: 5 for n in range(1, 7)}})
    complete = replace(ctx, current={ITCH.code: {1: 10}, PROMIS.code: {n: 5 for n in range(1, 9)}})
    asked = handle({}, "9", complete)
    said = {
        "diary": start("diary", ctx).reply,
        "reminder": start("reminder", ctx).reply,
        "h12": start("h12", closed(replace(ctx, h12_open=True))).reply,
        "itch_saved": handle(start("diary", ctx).state, "10", ctx).reply,
        "unfinished": start("reminder", six).reply,
        "redo": handle({}, "CHANGE", complete).reply,
        "h12_thanks": handle(start("h12", replace(six, h12_open=True), start("reminder", six).state).state,
                             "10", replace(six, h12_open=True)).reply,
        "confirm": asked.reply,
        "changed": handle(asked.state, "YES" if language == "en" else "SÍ", complete).reply,
    }
    for what, reply in said.items():
        assert LEADS[language][what].format(date=day) in reply, (what, reply)
        assert sms.fits(language, reply), (what, sms.describe(language, reply), reply)


# Any character: the GSM-7 alphabets, their look-alikes, the regular-expression metacharacters, emoji.
ANY_TEXT = st.text(st.one_of(st.sampled_from(sms.GSM7_BASIC + sms.GSM7_EXTENSION + "áíóú’…\\-]^[\t\x00"),
                             st.characters()), max_size=400)


@given(ANY_TEXT)
def test_the_alphabet_is_read_character_by_character(text):
    gsm7 = all(c in sms.GSM7_BASIC or c in sms.GSM7_EXTENSION for c in text)
    assert sms.is_gsm7(text) is gsm7
    assert sms.gsm7_length(text) == sum(2 if c in sms.GSM7_EXTENSION else 1 for c in text)
