"""What fits in a text message: segments counted the way Twilio counts them, and the budget a reply may take.

The budget (issue 16, "One segment"): an English text is one GSM-7 segment (160
characters); a language whose spelling needs UCS-2 (Spanish's á, í, ó, ú) two at most
(134 characters), or one where the text stays GSM-7. Where content can't fit, it is split
into steps (or given a shorter SMS form in the study file), never into more segments.

Pure: the study configuration loader refuses an item whose SMS question cannot fit
(study_config.py), and the chatbot asks every item through `item_text` below, so the
two never disagree about what is sent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # study_config imports this module to check a study's questions
    from diaries.protocol.study_config import Item

# GSM 03.38 default alphabet and its extension table (each extension character costs two).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
# A language outside this set (Spanish) may take two UCS-2 segments.
ONE_SEGMENT_LANGUAGES = ("en",)
# The alphabets as character classes: the chatbot checks every prompt it sends (thousands at
# the evening peak), and a regular expression looks at each character in C, not in a Python loop.
_OUTSIDE_GSM7 = re.compile(f"[^{re.escape(GSM7_BASIC + GSM7_EXTENSION)}]")
_EXTENSION = re.compile(f"[{re.escape(GSM7_EXTENSION)}]")


def is_gsm7(text: str) -> bool:
    """Whether a text fits the GSM-7 alphabet (160 characters a segment, not UCS-2's 70)."""
    return _OUTSIDE_GSM7.search(text) is None


def gsm7_length(text: str) -> int:
    return len(text) + len(_EXTENSION.findall(text))


def ucs2_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2  # an emoji is two UTF-16 units


def segments(text: str) -> int:
    """SMS segments the way Twilio counts them.

    GSM-7: 160 characters in one segment, 153 each when concatenated; an extension
    character (^ { } \\ [ ~ ] | €) counts two. Anything else is UCS-2: 70 UTF-16 units in
    one segment, 67 each when concatenated (an emoji is two units).
    """
    if is_gsm7(text):
        length, single, part = gsm7_length(text), 160, 153
    else:
        length, single, part = ucs2_length(text), 70, 67
    return 1 if length <= single else -(-length // part)


def allowed_segments(language: str, text: str) -> int:
    """The most segments `text` may take in `language`: one in English or in GSM-7, else two."""
    return 1 if language in ONE_SEGMENT_LANGUAGES or is_gsm7(text) else 2


def fits(language: str, text: str) -> bool:
    """Whether a text is within its language's budget."""
    return segments(text) <= allowed_segments(language, text)


def describe(language: str, text: str) -> str:
    """Why a text does not fit, in the words a study designer reads ("149 characters, 3 UCS-2 segments; ...")."""
    gsm = is_gsm7(text)
    length = gsm7_length(text) if gsm else ucs2_length(text)
    allowed = allowed_segments(language, text)
    limit = (160 if allowed == 1 else 306) if gsm else (70 if allowed == 1 else 134)
    encoding = "GSM-7" if gsm else "UCS-2"
    return (f"{length} characters, {segments(text)} {encoding} segments; "
            f"a text in {language!r} may take {allowed} ({limit} characters)")


def options_text(item: Item, language: str) -> str:
    """An options item's choices as a text offers them: "1 Never, 2 Rarely, ..."."""
    return ", ".join(f"{n} {item.label_of(n, language)}" for n in item.choices)


def item_text(item: Item, language: str, timepoint: str = "DAILY", *, k: int = 1, n: int = 1) -> str:
    """An item as the chatbot asks it by text: its SMS question; an options item numbered k/n, with its options.

    These are the words the bot always puts around a question; anything else it says
    before a question (a date, "Itch 7 saved.") is left out when it would not fit.
    """
    question = item.sms_question(language, timepoint)
    if item.kind != "options":
        return question
    return f"{k}/{n} {question} {options_text(item, language)}"
