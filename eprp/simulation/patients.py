"""The simulated patients: who they are, how their itch and sleep go by arm, what they answer
to what they are sent, and how their answers reach the server (a signed Twilio webhook, or the
web diary's use case).

Patients follow trajectories by arm, built to separate as the TRuE-AD studies did:
vehicle improves a little, 0.75% clearly, 1.5% most, with a small drop within 12
hours of the first application; within an arm, patients differ in how well they
respond, so that every arm has responders and non-responders.

Every draw comes from the simulation's one random generator, passed in, in a fixed order:
a seed always gives the same trial.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from diaries.diary import Recorded, submit_diary
from diaries.models import Channel, Participant, Site, Timepoint
from diaries.protocol import windows
from diaries.protocol.study_config import StudyConfig
from notifications.providers.twilio import webhooks

ARMS = ("RUX15", "RUX075", "VEHICLE")
ARM_WEIGHTS = (2, 2, 1)
# The drop 12 h after the first application, which lasts (Papp et al. 2021: -0.1
# vehicle, -0.4 0.75%, -0.5 1.5%).
H12_EFFECT = {"VEHICLE": 0.1, "RUX075": 0.4, "RUX15": 0.5}
# Itch NRS improvement reached by Week 8 on top of it: the arm's mean, and how much
# patients differ (one normal "response" per patient, also used for sleep). Set so that
# about as many reach the >=4-point improvement as in TRuE-AD (roughly 15-16% vehicle,
# 40-43% 0.75%, 50-52% 1.5%): P(ITCH_EFFECT + H12_EFFECT + 2.0 z >= 4) is 15%, 40%, 50%.
ITCH_EFFECT = {"VEHICLE": 1.8, "RUX075": 3.1, "RUX15": 3.5}
ITCH_SPREAD = 2.0
# PROMIS SD 8b raw-score improvement reached by Week 8: mean by arm, spread between patients.
SLEEP_EFFECT = {"VEHICLE": 2.0, "RUX075": 5.5, "RUX15": 6.5}
SLEEP_SPREAD = 3.0
REVERSED_ITEMS = {2, 3, 7, 8}
TOKEN = "simulation-auth-token"
INBOUND_URL = "/sms/twilio/inbound/"
# A reply that is a web diary, not a text.
WEB = "\x00web"


@dataclass
class SimPatient:
    usubjid: str
    phone: str
    zone: str
    site: str
    language: str
    arm: str
    stratum: str
    runin_start: date
    adherence: float
    itch0: float
    sleep0: float  # mean item score at baseline (1..5)
    web_user: bool
    response: float = 0.0  # how well this patient responds, in standard deviations of the arm's spread
    participant_id: object = None
    stop_on: date | None = None
    restart_on: date | None = None
    discontinue_on: date | None = None
    lesions_clear: bool = False
    replies_today: int = 0
    # The site's bookkeeping, so that most simulated hours need no database read.
    day1_done: bool = False
    week8_done: bool = False
    ended: bool = False
    visit_days: dict | None = None


@dataclass(order=True)
class Reply:
    at: datetime
    seq: int
    usubjid: str = field(compare=False)
    body: str = field(compare=False)



def new_patient(rng: random.Random, *, site: Site, number: int, seed: int, start: datetime, weeks: int) -> SimPatient:
    """Patient `number` of a site: arm, baseline, adherence and the few who stop texting or leave."""
    arm = rng.choices(ARMS, weights=ARM_WEIGHTS)[0]
    zone = site.zone
    spanish = site.country in ("ES", "MX") or rng.random() < 0.1
    runin = (start.astimezone(ZoneInfo(zone)) + timedelta(days=1 + rng.randrange(4))).date()
    p = SimPatient(
        usubjid=f"SIM-{seed}-{number:04d}", phone=phone(site.country, seed, number), zone=zone,
        site=site.number, language="es" if spanish else "en", arm=arm,
        stratum=rng.choice(("IGA2", "IGA3")), runin_start=runin,
        adherence=min(0.98, max(0.5, rng.gauss(0.86, 0.08))),
        itch0=min(10.0, max(4.0, rng.gauss(6.8, 1.4))),
        sleep0=min(4.6, max(2.0, rng.gauss(3.1, 0.5))),
        web_user=rng.random() < 0.15, response=rng.gauss(0, 1),
    )
    if rng.random() < 0.04:
        p.stop_on = runin + timedelta(days=rng.randrange(3, 7 * weeks + 5))
        if rng.random() < 0.5:
            p.restart_on = p.stop_on + timedelta(days=2)
    if rng.random() < 0.03:
        p.discontinue_on = runin + timedelta(days=rng.randrange(10, 7 * weeks + 7))
    return p


def phone(country: str, seed: int, number: int) -> str:
    """Fictional numbers: North American 555-01xx style exchanges and unassigned European ranges."""
    # 2000..9999: clear of the demo participants' 555-01xx numbers.
    n = 2000 + (seed * 7919 + number) % 8000
    if country == "PL":
        return f"+4860155{n:04d}"
    if country == "ES":
        return f"+3461255{n:04d}"
    return f"+1312555{n:04d}" if country == "US" else f"+1617555{n:04d}"


# --- what they answer ----------------------------------------------------------------------


def reactions(rng: random.Random, p: SimPatient, rules: StudyConfig, kind: str,
              now: datetime) -> list[tuple[datetime, str]]:
    """What the patient sends back to a message of `kind` sent at `now`: (when, text or WEB), in order."""
    out: list[tuple[datetime, str]] = []
    local = now.astimezone(ZoneInfo(p.zone))
    day = local.date()
    if kind in ("diary", "reminder"):
        if rng.random() > p.adherence * (0.55 if kind == "reminder" else 1.0):
            return out
        delay = timedelta(minutes=rng.expovariate(1 / 25))
        if rng.random() < 0.02:
            delay = timedelta(hours=rng.uniform(8.5, 12))  # a late reply the window refuses
        if p.web_user and rng.random() < 0.7:
            out.append((now + delay, WEB))  # the web diary, through the use case the web views call
            return out
        itch = itch_score(rng, p, rules, day)
        out.append((now + delay, rng.choice([str(itch), str(itch), f"{itch}/10", f"itch {itch}"])))
        options = sleep_options(rng, p, rules, day)
        at = now + delay + timedelta(minutes=1)
        if rng.random() < 0.75:
            out.append((at, " ".join(map(str, options))))
        else:
            answered = 8 if rng.random() < 0.9 else rng.randrange(3, 8)
            for option in options[:answered]:
                at += timedelta(seconds=rng.randrange(20, 90))
                out.append((at, str(option)))
        if rng.random() < 0.04:
            out.append((at + timedelta(minutes=5), str(max(0, min(10, itch + rng.choice((-1, 1)))))))
    elif kind == "h12":
        if rng.random() < 0.85:
            base = itch_score(rng, p, rules, day, h12=True)
            out.append((now + timedelta(minutes=rng.expovariate(1 / 15)), str(base)))
    elif kind == "lesion_checkin":
        if rng.random() < 0.8:
            cleared = rng.random() < (0.55 if p.arm != "VEHICLE" else 0.35)
            word = "CLEAR" if cleared else "FLARE"
            if cleared != p.lesions_clear or not cleared:
                out.append((now + timedelta(minutes=20), word))
                if not cleared:
                    out.append((now + timedelta(minutes=22), "YES" if rng.random() < 0.15 else "NO"))
            p.lesions_clear = cleared
    return out


def opt_out_and_back(rng: random.Random, p: SimPatient, today: date, now: datetime) -> list[tuple[datetime, str]]:
    """A few patients text STOP one day (some in other words), and half of them START two days later."""
    out = []
    if p.stop_on == today:
        out.append((now + timedelta(hours=1), rng.choice(["STOP", "stop", "Stop texting me", "ALTO"])))
    if p.restart_on == today:
        out.append((now + timedelta(hours=2), "START"))
    return out


def itch_score(rng: random.Random, p: SimPatient, rules: StudyConfig, day: date, h12: bool = False) -> int:
    day1 = p.runin_start + timedelta(days=rules.runin_days)
    study_day = windows.study_day(day, day1)
    mean = p.itch0
    if study_day >= 1:
        effect = max(0.0, ITCH_EFFECT[p.arm] + ITCH_SPREAD * p.response)
        mean -= effect * (1 - math.exp(-study_day / 9)) + H12_EFFECT[p.arm]
    if h12:
        mean = p.itch0 - H12_EFFECT[p.arm]
    return int(min(10, max(0, round(rng.gauss(mean, 0.9)))))


def sleep_options(rng: random.Random, p: SimPatient, rules: StudyConfig, day: date) -> list[int]:
    day1 = p.runin_start + timedelta(days=rules.runin_days)
    study_day = windows.study_day(day, day1)
    mean = p.sleep0
    if study_day >= 1:
        effect = max(0.0, SLEEP_EFFECT[p.arm] + SLEEP_SPREAD * p.response)
        mean -= effect / 8 * (1 - math.exp(-study_day / 10))
    options = []
    for item in range(1, 9):
        score = int(min(5, max(1, round(rng.gauss(mean, 0.6)))))
        options.append(6 - score if item in REVERSED_ITEMS else score)
    return options


def web_answers(rng: random.Random, p: SimPatient, rules: StudyConfig, at: datetime) -> tuple[int, list[int]]:
    """The itch score and sleep options of a web diary sent at `at`."""
    day = at.astimezone(ZoneInfo(p.zone)).date()
    return itch_score(rng, p, rules, day), sleep_options(rng, p, rules, day)


# --- how the answers reach the server ------------------------------------------------------


def webhook_form(p: SimPatient, reply: Reply, seed: int) -> tuple[dict, str]:
    """The form Twilio posts for a text from the patient, and its signature."""
    params = {
        "MessageSid": f"SM{seed % 16**8:08x}{reply.seq:024x}",
        "AccountSid": settings.TWILIO_ACCOUNT_SID or "AC" + "5" * 32, "From": p.phone,
        "To": "+13125550999", "Body": reply.body, "NumMedia": "0", "NumSegments": "1",
        "SmsStatus": "received", "ApiVersion": "2010-04-01",
    }
    return params, webhooks.sign(settings.PUBLIC_BASE_URL + INBOUND_URL, params, TOKEN)


def record_web_diary(participant_id, itch: int, options: list[int]) -> bool:
    """A web diary submission through the use case the web views call; False if refused."""
    participant = Participant.objects.get(pk=participant_id)
    result = submit_diary(participant=participant, channel=Channel.WEB, timepoint=Timepoint.DAILY, at=timezone.now(),
                          answers={"ITCH_NRS": {1: itch}, "PROMIS_SD8B": {i + 1: o for i, o in enumerate(options)}})
    return isinstance(result, Recorded)
