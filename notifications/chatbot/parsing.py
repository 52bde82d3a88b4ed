"""Reading what patients text: keywords and numbers, generously, but never guessing.

Replies outside the expected format are common on SMS diaries (DOMAIN.md "ePRO
practice"), so "7/10", "itch 7", "siete" or a full-width "７" are all a 7. What we
never do is pick one number out of several: "7 or 8", "5-6" and "10/10 lol 3" are
unclear and the chatbot asks again. Everything here is pure and total: any string,
however long or strange, gives an answer and never an exception.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

# Python refuses int() on digit strings over 4300 characters (CVE-2020-10735); anything
# this long is no answer to a 0..10 question anyway.
_MAX_DIGITS = 6
_TOO_BIG = 10**_MAX_DIGITS
# No answer to one diary question is longer than this; a longer body (a pasted letter,
# 10,000 characters of junk) is never read as a number, and never costs more than a glance.
_MAX_ANSWER_CHARS = 320

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'", "\u02bc": "'"})


def normalize(text: str | None) -> str:
    """Case-, accent- and width-folded text with control characters as spaces, whitespace collapsed."""
    if not text:
        return ""
    # NFKC turns full-width "７" into "7" and ligatures into letters.
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co") else c for c in text)
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return " ".join(text.casefold().split())


def _words(norm: str) -> list[str]:
    """The words of normalized text; punctuation, emoji and symbols are dropped."""
    return re.sub(r"[\W_]+", " ", norm).split()


# Keywords, accent-free and lower case, as whole messages. Every language's keywords
# work for every participant: a Spanish speaker may well text STOP.
KEYWORDS: dict[str, frozenset[str]] = {
    # TCPA (FCC 24-24) and Twilio's own opt-out list, plus Spanish.
    "STOP": frozenset(
        {
            "stop",
            "stopall",
            "stop all",
            "unsubscribe",
            "cancel",
            "end",
            "quit",
            "revoke",
            "optout",
            "opt out",
            "alto",
            "parar",
            "cancelar",
            "baja",
            "detener",
        }
    ),
    "START": frozenset({"start", "unstop", "comenzar", "inicio", "alta"}),
    "HELP": frozenset({"help", "info", "ayuda"}),
    "LINK": frozenset({"link", "enlace"}),
    "CHANGE": frozenset({"change", "undo", "cambiar", "deshacer"}),
    "CLEAR": frozenset({"clear", "limpia", "limpio"}),
    "FLARE": frozenset({"flare", "brote"}),
    "YES": frozenset({"yes", "y", "yeah", "yep", "si"}),
    "NO": frozenset({"no", "n", "nope"}),
}
_BY_PHRASE = {phrase: name for name, phrases in KEYWORDS.items() for phrase in phrases}
# Courtesy around a keyword does not make it something else: "STOP please" is STOP.
_POLITE = {"please", "pls", "plz", "thanks", "thank", "you", "por", "favor", "gracias", "ok", "okay"}

# TCPA: consent may be revoked "in any reasonable way", so a clear sentence counts as
# STOP. Patterns are matched on normalized words; they are narrow on purpose ("I can't
# stop scratching" is not a revocation).
_REVOCATIONS = [
    re.compile(p)
    for p in (
        r"\bstop (texting|messaging|sending|contacting|txting|the texts|the messages|these texts|these messages)\b",
        r"\bstop (texts|messages|sms|msgs)\b",
        r"\bno more (texts|messages|sms|msgs|txts)\b",
        r"\b(dont|don t|do not|never) (text|txt|message|sms|contact|send me|send texts)\b",
        r"\bunsubscribe\b",
        r"\bopt ?out\b",
        r"\b(remove|take) me (off|from)\b",
        r"\bleave me alone\b",
        r"\bno (me )?(envien|manden|escriban|envies|mandes|escribas|contacten)\b",
        r"\bno (quiero|deseo) (recibir )?(mas )?(mensajes|textos|sms)\b",
        r"\bno mas (mensajes|textos|sms)\b",
        r"\bdej(en|a|e|ad) de (enviar|mandar|escribir)",
        r"\b(dar|darme|denme|deme|quiero) de baja\b",
    )
]


def keyword(norm: str) -> str | None:
    """The keyword a whole message is ("STOP", "START", "HELP", ...), or None."""
    words = [w for w in _words(norm) if w not in _POLITE] or _words(norm)
    if not words or len(words) > 4:
        return None
    name = _BY_PHRASE.get(" ".join(words))
    if name is None and len(set(words)) == 1:  # "stop stop"
        name = _BY_PHRASE.get(words[0])
    return name


def is_revocation(norm: str) -> bool:
    """A sentence that clearly withdraws consent to texts ("please stop texting me")."""
    spaced = " ".join(_words(norm))
    return any(p.search(spaced) for p in _REVOCATIONS)


NUMBER_WORDS = {
    "zero": 0, "none": 0, "nil": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "cero": 0, "ninguna": 0, "ninguno": 0, "nada": 0, "uno": 1, "una": 1, "dos": 2, "tres": 3,
    "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
}  # fmt: skip


@dataclass(frozen=True)
class Reading:
    """What one expected number came out as.

    kind: "number" (value set), "ambiguous" (several different numbers, a range, a
    decimal, a negative), "none" (no number at all).
    """

    kind: str
    value: int | None = None


def _int(digits: str) -> int:
    return _TOO_BIG if len(digits) > _MAX_DIGITS else int(digits)


def read_number(norm: str, *, scale_max: int) -> Reading:
    """One number out of normalized text: "7", "07", "7/10", "itch 7", "seven", "I'd say 6", "6."."""
    # "7/10", "7 out of 10", "7 de 10": the scale's maximum as denominator is not an answer.
    if len(norm) > _MAX_ANSWER_CHARS:
        return Reading("ambiguous")
    # (?<!\d) keeps this linear: without it a long run of digits backtracks quadratically.
    text = re.sub(rf"(?<!\d)(\d+)\s*(?:/|\bout of\b|\bde\b|\bsobre\b)\s*0*{scale_max}(?!\d)", r"\1", norm)
    if re.search(r"\d\s*[.,]\s*\d", text):
        return Reading("ambiguous")  # "6.5", "6,5" (a decimal) or "6, 5" (two answers)
    if re.search(r"(^|[^\w])[-\u2212]\s*\d", text) or re.search(r"\d\s*[-\u2013\u2014/]\s*\d", text):
        return Reading("ambiguous")  # negative, a range "5-6", or "3/5" on a 0..10 question
    values = [_int(d) for d in re.findall(r"\d+", text)]
    values += [NUMBER_WORDS[w] for w in re.findall(r"[^\W\d_]+", text) if w in NUMBER_WORDS]
    if not values:
        return Reading("none")
    if len(set(values)) > 1:
        return Reading("ambiguous")
    return Reading("number", values[0])


def read_numbers(norm: str) -> list[int] | None:
    """A list of numbers separated by spaces, commas or semicolons ("3 2 4 1 5 3 2 2"), else None."""
    text = norm.strip(" .!;,")
    if not text:
        return None
    tokens = [t for t in re.split(r"[\s,;]+", text) if t]
    if not all(t.isdecimal() for t in tokens):
        return None
    return [_int(t) for t in tokens]


def matches_label(norm: str, label: str) -> bool:
    """Whether a message is exactly an option's label ("very much", "a veces"), ignoring case and accents."""
    return bool(norm) and tuple(_words(norm)) == _label_words(label)


@functools.lru_cache(maxsize=1024)
def _label_words(label: str) -> tuple[str, ...]:
    # The study's option labels are few and fixed: normalise each once, not on every text.
    return tuple(_words(normalize(label)))


# Replies to a thank-you ("ok", "thanks", a thumbs-up) need no answer; answering them
# would only start a ping-pong with the patient (or with an auto-responder).
_COURTESY = {
    "ok", "okay", "k", "kk", "thanks", "thank", "you", "thx", "ty", "great", "good", "cool", "perfect",
    "sure", "gracias", "muchas", "vale", "bien", "perfecto", "genial", "de", "nada",
}  # fmt: skip


def is_courtesy(norm: str) -> bool:
    """A message that only says thanks or OK, or only emoji and punctuation."""
    words = _words(norm)
    if not words:
        return bool(norm)
    return all(w in _COURTESY for w in words)
