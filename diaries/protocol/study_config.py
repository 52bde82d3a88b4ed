"""The study configuration: a TOML file read with tomllib, validated into frozen dataclasses.

Every problem is reported with the key path it sits at (`instruments[1].items[3].scale:
unknown scale 'intesity'`), all at once, so a study designer fixes a file in one pass.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import available_timezones

import phonenumbers

from diaries.protocol import sms

TIMEPOINTS = ("DAILY", "H12")
# How prompts reach a participant (notifications.scheduling.channels.Preference).
CHANNEL_PREFERENCES = ("sms", "push", "push_then_sms")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class ConfigError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Option:
    number: int  # what the patient sees and types (1..5)
    score: int  # what is stored: the number, or 6 - number on reversed items
    labels: dict[str, str]


@dataclass(frozen=True)
class Item:
    number: int
    id: str
    kind: str  # "nrs" (integer min..max) or "options" (numbered options)
    text: dict[str, str]
    min: int = 0
    max: int = 10
    reversed: bool = False
    options: tuple[Option, ...] = ()
    anchor_low: dict[str, str] = field(default_factory=dict)
    anchor_high: dict[str, str] = field(default_factory=dict)
    # The question as asked at the 12-hour assessment (its recall period is the 12 hours
    # since the first application, not the daily 24 hours); the daily text when absent.
    h12_text: dict[str, str] = field(default_factory=dict)
    # The question as a text message asks it, in a language where the full text cannot fit
    # the SMS budget (diaries/protocol/sms.py): a study team's wording, kept in the study
    # file beside the full text; the web and the app always ask the full text.
    sms_text: dict[str, str] = field(default_factory=dict)
    sms_h12_text: dict[str, str] = field(default_factory=dict)

    def question(self, lang: str, timepoint: str = "DAILY") -> str:
        """The item's text in `lang` (English when it has none) for the daily diary or the H12 assessment."""
        texts = self.h12_text if timepoint == "H12" and self.h12_text else self.text
        return texts.get(lang) or texts["en"]

    def sms_question(self, lang: str, timepoint: str = "DAILY") -> str:
        """The question a text message asks: the SMS form in `lang` when the study gives one, else the full text."""
        sms_texts = self.sms_h12_text if timepoint == "H12" and self.h12_text else self.sms_text
        return sms_texts.get(lang) or self.question(lang, timepoint)

    @property
    def choices(self) -> range:
        """The numbers a patient may answer with."""
        if self.kind == "nrs":
            return range(self.min, self.max + 1)
        return range(1, len(self.options) + 1)

    def score_of(self, answer: int) -> int:
        """The stored score of an answer (reversal applied); ValueError when out of range."""
        if answer not in self.choices:
            raise ValueError(f"{self.id}: {answer} is not one of {self.choices.start}..{self.choices.stop - 1}")
        if self.kind == "nrs":
            return answer
        return self.options[answer - 1].score

    def label_of(self, answer: int, language: str = "en") -> str:
        if self.kind == "nrs":
            return str(answer)
        return self.options[answer - 1].labels.get(language) or self.options[answer - 1].labels["en"]


@dataclass(frozen=True)
class Instrument:
    code: str
    name: str
    category: str
    timepoints: tuple[str, ...]
    items: tuple[Item, ...]
    not_validated: tuple[str, ...] = ()

    def item(self, number: int) -> Item:
        for it in self.items:
            if it.number == number:
                return it
        raise KeyError(f"{self.code} has no item {number}")


@dataclass(frozen=True)
class Site:
    number: str
    name: str
    country: str
    zone: str
    phone: str
    hours: str


@dataclass(frozen=True)
class StudyConfig:
    code: str
    name: str
    program_name: str
    languages: tuple[str, ...]
    default_language: str
    arms: tuple[str, ...]
    reference_arm: str
    arm_ratio: tuple[int, ...]
    runin_days: int
    vehicle_controlled_weeks: int
    long_term_end_week: int
    visit_weeks: tuple[int, ...]
    window_opens: time
    window_closes: time
    h12_prompt_after_hours: float
    h12_accept_from_hours: float
    h12_accept_to_hours: float
    diary_prompt: time
    diary_reminder: time
    quiet_hours_start: time
    quiet_hours_end: time
    visit_reminder_days_before: int
    visit_reminder_time: time
    lesion_checkin_weekday: int
    lesion_checkin_time: time
    stop_treatment_after_days: int
    stop_prompt_time: time
    missed_alert_days: int
    min_days: int
    instruments: dict[str, Instrument]
    sites: tuple[Site, ...]
    content_hash: str
    # [channels]: how prompts reach a participant unless they or the site chose otherwise
    # (sms, push, push_then_sms), and how long a push waits for the diary to start before the SMS.
    channel_default: str = "sms"
    fallback_after_minutes: int = 30
    # [offline]: a diary the app captured without a connection (diaries.protocol.offline).
    offline_grace_hours: float = 24.0
    max_clock_offset_minutes: float = 60.0

    def instrument(self, code: str) -> Instrument:
        return self.instruments[code]


class _Reader:
    """Walks the parsed TOML, collecting every problem with its key path."""

    def __init__(self):
        self.problems: list[str] = []

    def fail(self, path: str, problem: str):
        self.problems.append(f"{path}: {problem}")

    def get(self, table: Any, key: str, path: str, kind, default=...):
        full = f"{path}.{key}" if path else key
        if not isinstance(table, dict) or key not in table:
            if default is ...:
                self.fail(full, "missing")
            return None if default is ... else default
        value = table[key]
        if kind is int and isinstance(value, bool):
            self.fail(full, f"expected an integer, got {value!r}")
            return None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            self.fail(full, f"expected {names}, got {type(value).__name__} {value!r}")
            return None
        return value

    def clock(self, table, key, path, default=...) -> time | None:
        value = self.get(table, key, path, str, default)
        if value is None:
            return None
        m = _HHMM.match(value)
        if not m:
            self.fail(f"{path}.{key}", f"expected a local time HH:MM, got {value!r}")
            return None
        return time(int(m.group(1)), int(m.group(2)))

    def texts(self, table, key, path, languages, required=True) -> dict[str, str]:
        value = self.get(table, key, path, dict, ... if required else {})
        if value is None:
            return {}
        for lang in languages:
            if lang not in value:
                if required:
                    self.fail(f"{path}.{key}.{lang}", "missing text for a study language")
            elif not isinstance(value[lang], str) or not value[lang].strip():
                self.fail(f"{path}.{key}.{lang}", "expected non-empty text")
        return {k: v for k, v in value.items() if isinstance(v, str)}


def parse_study_config(text: str, *, sms_budget: bool = True) -> StudyConfig:
    """Parse and validate a study TOML; raises ConfigError listing every problem.

    `sms_budget`: refuse an item whose question cannot fit a text message (load_study);
    False to read a configuration already stored, so a study loaded before the check
    still runs until its file is loaded again.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"(file): not valid TOML: {exc}"]) from exc
    r = _Reader()
    study = r.get(data, "study", "", dict) or {}
    languages = tuple(r.get(study, "languages", "study", list) or ["en"])
    for i, lang in enumerate(languages):
        if lang not in ("en", "es"):
            r.fail(f"study.languages[{i}]", f"unsupported language {lang!r} (supported: en, es)")
    default_language = r.get(study, "default_language", "study", str, "en")
    if default_language not in languages:
        r.fail("study.default_language", f"{default_language!r} is not one of study.languages")

    arms = r.get(data, "arms", "", dict) or {}
    arm_codes = tuple(r.get(arms, "codes", "arms", list) or ())
    reference = r.get(arms, "reference", "arms", str)
    if reference is not None and reference not in arm_codes:
        r.fail("arms.reference", f"{reference!r} is not one of arms.codes")
    ratio = tuple(r.get(arms, "ratio", "arms", list) or ())
    if ratio and len(ratio) != len(arm_codes):
        r.fail("arms.ratio", "needs one entry per arm code")

    phases = r.get(data, "phases", "", dict) or {}
    windows = r.get(data, "diary_window", "", dict) or {}
    h12 = r.get(data, "h12", "", dict) or {}
    sched = r.get(data, "schedule", "", dict) or {}
    visits = r.get(data, "visits", "", dict) or {}
    analysis = r.get(data, "analysis", "", dict, {})
    channels = r.get(data, "channels", "", dict, {})
    offline = r.get(data, "offline", "", dict, {})
    channel_default = r.get(channels, "default", "channels", str, "sms")
    if channel_default not in CHANNEL_PREFERENCES:
        r.fail("channels.default", f"expected one of {', '.join(CHANNEL_PREFERENCES)}, got {channel_default!r}")
    fallback_after = r.get(channels, "fallback_after_minutes", "channels", int, 30)
    if fallback_after is not None and not 1 <= fallback_after <= 24 * 60:
        r.fail("channels.fallback_after_minutes", "expected minutes between 1 and 1440")
    grace_hours = r.get(offline, "grace_hours", "offline", float, 24.0)
    if grace_hours is not None and not 0 <= grace_hours <= 24 * 7:
        r.fail("offline.grace_hours", "expected hours between 0 and 168")
    max_offset = r.get(offline, "max_clock_offset_minutes", "offline", float, 60.0)
    if max_offset is not None and not 0 < max_offset <= 24 * 60:
        r.fail("offline.max_clock_offset_minutes", "expected minutes between 1 and 1440")

    visit_weeks = r.get(visits, "weeks", "visits", list) or []
    for i, w in enumerate(visit_weeks):
        if not isinstance(w, int) or isinstance(w, bool) or w < 1:
            r.fail(f"visits.weeks[{i}]", f"expected a week number >= 1, got {w!r}")
    if visit_weeks != sorted(set(visit_weeks)):
        r.fail("visits.weeks", "weeks must be increasing without repeats")

    h12_from = r.get(h12, "accept_from_hours", "h12", float)
    h12_to = r.get(h12, "accept_to_hours", "h12", float)
    h12_at = r.get(h12, "prompt_after_hours", "h12", float)
    if None not in (h12_from, h12_to, h12_at) and not (h12_from <= h12_at <= h12_to):
        r.fail("h12", "prompt_after_hours must lie between accept_from_hours and accept_to_hours")

    weekday = r.get(sched, "lesion_checkin_weekday", "schedule", int, 6)
    if weekday is not None and not 1 <= weekday <= 7:
        r.fail("schedule.lesion_checkin_weekday", "expected an ISO weekday 1 (Monday) .. 7 (Sunday)")

    scales = r.get(data, "scales", "", dict) or {}
    instruments: dict[str, Instrument] = {}
    for i, inst in enumerate(r.get(data, "instruments", "", list) or []):
        path = f"instruments[{i}]"
        code = r.get(inst, "code", path, str)
        timepoints = tuple(r.get(inst, "timepoints", path, list) or ())
        for tp in timepoints:
            if tp not in TIMEPOINTS:
                r.fail(f"{path}.timepoints", f"unknown timepoint {tp!r} (known: {', '.join(TIMEPOINTS)})")
        items = []
        for j, raw in enumerate(r.get(inst, "items", path, list) or []):
            items.append(_parse_item(r, raw, f"{path}.items[{j}]", scales, languages))
        numbers = [it.number for it in items if it]
        if numbers != list(range(1, len(numbers) + 1)):
            r.fail(f"{path}.items", "item numbers must run 1, 2, 3, ... in order")
        elif sms_budget and all(items):  # an item that did not parse has its own problem already
            _check_sms_fit(r, path, items, timepoints, languages)
        if code in instruments:
            r.fail(f"{path}.code", f"duplicate instrument {code!r}")
        if code:
            instruments[code] = Instrument(
                code=code,
                name=r.get(inst, "name", path, str, code),
                category=r.get(inst, "category", path, str, code),
                timepoints=timepoints,
                items=tuple(it for it in items if it),
                not_validated=tuple(r.get(inst, "not_validated", path, list, [])),
            )
    for needed in ("ITCH_NRS", "PROMIS_SD8B"):
        if needed not in instruments:
            r.fail("instruments", f"the diary needs instrument {needed}")

    sites = []
    zones = available_timezones()
    for i, raw in enumerate(r.get(data, "sites", "", list) or []):
        path = f"sites[{i}]"
        number = r.get(raw, "number", path, str)
        zone = r.get(raw, "zone", path, str)
        if zone is not None and zone not in zones:
            r.fail(f"{path}.zone", f"unknown IANA time zone {zone!r}")
        phone = r.get(raw, "phone", path, str)
        if phone is not None and not _is_e164(phone):
            r.fail(f"{path}.phone", f"expected an E.164 number like +13125550101, got {phone!r}")
        if number in {s.number for s in sites}:
            r.fail(f"{path}.number", f"duplicate site number {number!r}")
        sites.append(
            Site(
                number=number,
                name=r.get(raw, "name", path, str),
                country=r.get(raw, "country", path, str),
                zone=zone,
                phone=phone,
                hours=r.get(raw, "hours", path, str, ""),
            )
        )

    values = dict(
        code=r.get(study, "code", "study", str),
        name=r.get(study, "name", "study", str),
        program_name=r.get(study, "program_name", "study", str),
        languages=languages,
        default_language=default_language,
        arms=arm_codes,
        reference_arm=reference,
        arm_ratio=ratio,
        runin_days=r.get(phases, "runin_days", "phases", int),
        vehicle_controlled_weeks=r.get(phases, "vehicle_controlled_weeks", "phases", int),
        long_term_end_week=r.get(phases, "long_term_end_week", "phases", int),
        visit_weeks=tuple(visit_weeks),
        window_opens=r.clock(windows, "opens", "diary_window"),
        window_closes=r.clock(windows, "closes", "diary_window"),
        h12_prompt_after_hours=h12_at,
        h12_accept_from_hours=h12_from,
        h12_accept_to_hours=h12_to,
        diary_prompt=r.clock(sched, "diary_prompt", "schedule"),
        diary_reminder=r.clock(sched, "diary_reminder", "schedule"),
        quiet_hours_start=r.clock(sched, "quiet_hours_start", "schedule", "21:45"),
        quiet_hours_end=r.clock(sched, "quiet_hours_end", "schedule", "08:00"),
        visit_reminder_days_before=r.get(sched, "visit_reminder_days_before", "schedule", int, 1),
        visit_reminder_time=r.clock(sched, "visit_reminder_time", "schedule", "10:00"),
        lesion_checkin_weekday=weekday,
        lesion_checkin_time=r.clock(sched, "lesion_checkin_time", "schedule", "18:00"),
        stop_treatment_after_days=r.get(sched, "stop_treatment_after_days", "schedule", int, 3),
        stop_prompt_time=r.clock(sched, "stop_prompt_time", "schedule", "09:00"),
        missed_alert_days=r.get(sched, "missed_alert_days", "schedule", int, 2),
        min_days=r.get(analysis, "min_days", "analysis", int, 4),
        instruments=instruments,
        sites=tuple(sites),
        content_hash=content_hash(text),
        channel_default=channel_default,
        fallback_after_minutes=fallback_after,
        offline_grace_hours=grace_hours,
        max_clock_offset_minutes=max_offset,
    )
    if r.problems:
        raise ConfigError(r.problems)
    return StudyConfig(**values)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _is_e164(phone: str) -> bool:
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return False
    return phone == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) and (
        phonenumbers.is_possible_number(parsed)
    )


def _h12_text(r: _Reader, raw, path: str, languages) -> dict[str, str]:
    """Optional, but then in every study language: a patient must not get the other recall period."""
    if "h12_text" not in (raw if isinstance(raw, dict) else {}):
        return {}
    return r.texts(raw, "h12_text", path, languages)


def _sms_texts(r: _Reader, raw, key: str, path: str, languages) -> dict[str, str]:
    """An optional SMS form, in some of the study languages (those whose full text cannot fit)."""
    value = r.texts(raw, key, path, languages, required=False)
    for lang in value:
        if lang not in languages:
            r.fail(f"{path}.{key}.{lang}", "not a study language")
    return value


def _check_sms_fit(r: _Reader, path: str, items: list, timepoints, languages) -> None:
    """Refuse an item whose question, as a text asks it (sms.item_text), cannot fit its language's budget.

    The words the bot always puts around a question count (an options item's "3/8" and
    its numbered options); what else it says before a question is left out when it does not fit.
    """
    asked = [tp for tp in TIMEPOINTS if tp in timepoints]
    for j, item in enumerate(items):
        for tp in asked:
            if tp == "H12" and not item.h12_text and "DAILY" in asked:
                continue  # asked in the daily words, checked there
            key = "h12_text" if tp == "H12" else "text"
            for lang in languages:
                text = sms.item_text(item, lang, tp, k=len(items), n=len(items))
                if sms.fits(lang, text):
                    continue
                own = (item.sms_h12_text if tp == "H12" else item.sms_text).get(lang)
                where = f"{path}.items[{j}].{'sms_' + key if own else key}.{lang}"
                r.fail(where, f"item {item.id}: the question as a text message asks it is "
                              f"{sms.describe(lang, text)}: give a shorter sms_{key}.{lang} "
                              f"(the web and the app keep {key}.{lang})")


def _parse_item(r: _Reader, raw, path: str, scales: dict, languages) -> Item | None:
    number = r.get(raw, "number", path, int)
    item_id = r.get(raw, "id", path, str)
    kind = r.get(raw, "kind", path, str)
    text = r.texts(raw, "text", path, languages)
    sms_text = _sms_texts(r, raw, "sms_text", path, languages)
    sms_h12_text = _sms_texts(r, raw, "sms_h12_text", path, languages)
    if sms_h12_text and "h12_text" not in raw:  # r.texts gave {} unless raw is a table
        r.fail(f"{path}.sms_h12_text", "an SMS form of h12_text, but the item has no h12_text")
    if kind == "nrs":
        lo, hi = r.get(raw, "min", path, int), r.get(raw, "max", path, int)
        if lo is not None and hi is not None and lo >= hi:
            r.fail(f"{path}.max", "must be greater than min")
        if None in (number, item_id, lo, hi):
            return None
        return Item(
            number=number,
            id=item_id,
            kind=kind,
            text=text,
            min=lo,
            max=hi,
            anchor_low=r.texts(raw, "anchor_low", path, languages, required=False),
            anchor_high=r.texts(raw, "anchor_high", path, languages, required=False),
            h12_text=_h12_text(r, raw, path, languages),
            sms_text=sms_text,
            sms_h12_text=sms_h12_text,
        )
    if kind == "options":
        scale_name = r.get(raw, "scale", path, str)
        reversed_ = r.get(raw, "reversed", path, bool, False)
        scale = scales.get(scale_name) if scale_name else None
        if scale_name and scale is None:
            r.fail(f"{path}.scale", f"unknown scale {scale_name!r}")
            return None
        if scale is None:
            return None
        labels_by_lang = {lang: scale.get(lang) for lang in languages}
        sizes = {len(v) for v in labels_by_lang.values() if isinstance(v, list)}
        if len(sizes) != 1 or None in labels_by_lang.values():
            r.fail(f"scales.{scale_name}", "needs the same number of labels in every study language")
            return None
        n = sizes.pop()
        options = tuple(
            Option(
                number=k,
                score=(n + 1 - k) if reversed_ else k,
                labels={lang: labels_by_lang[lang][k - 1] for lang in languages},
            )
            for k in range(1, n + 1)
        )
        if None in (number, item_id):
            return None
        return Item(number=number, id=item_id, kind=kind, text=text, reversed=reversed_, options=options,
                    sms_text=sms_text)
    if kind is not None:
        r.fail(f"{path}.kind", f"unknown item kind {kind!r} (known: nrs, options)")
    return None
