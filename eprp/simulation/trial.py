"""A whole trial played forward on a controlled clock, through the real paths.

The clock is moved with time-machine, so every service, the planner, the beat tick and
the webhook see simulated time exactly as they see real time. Prompts are planned and
dispatched by the same functions the beat schedule runs; the outbox sends through the
locmem transport; simulated patients read what they were sent and answer with signed
Twilio webhooks through Django's request handling (some use the web diary's service
instead); site staff record Day 1, visits and discontinuations through diaries.participants.
Who the patients are and what they answer: patients.py; the worker mode: workers.py.
"""

from __future__ import annotations

import csv
import heapq
import random
import time as clock_time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from analysis.export import audited_export_transfer
from analysis.randomization import import_randomization
from diaries import participants
from diaries.models import Alert, DiaryRecord, Participant, Phase, Randomization, Study
from eprp import simclock
from eprp.celery import app
from notifications import tasks
from notifications.models import InboundMessage, OutboundMessage, OutboundStatus, PromptStatus, ScheduledPrompt
from notifications.providers import locmem
from notifications.scheduling import dispatch, missed, planner

from . import patients
from .patients import INBOUND_URL, TOKEN, WEB, Reply, SimPatient, record_web_diary
from .workers import start_worker, stop_worker, worker_log


@dataclass
class Summary:
    participants: int = 0
    inbound: int = 0
    outbound: int = 0
    records: int = 0
    refused: int = 0
    alerts: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    export_dir: str = ""
    endpoint_rows: list = field(default_factory=list)


class Simulation:
    def __init__(self, *, study: Study, participants: int, weeks: int, seed: int, end: datetime,
                 progress=None, workers: int = 0):
        self.study = study
        self.rules = study.rules
        self.rng = random.Random(seed)
        self.seed = seed
        self.weeks = weeks
        self.end = end.astimezone(UTC)
        days = self.rules.runin_days + 7 * weeks + 4
        self.start = (self.end - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        self.patients: dict[str, SimPatient] = {}
        self.replies: list[Reply] = []
        self.seq = 0
        self.client = Client()
        self.progress = progress
        self.n = participants
        self.summary = Summary()
        # 0: one process, eager Celery. N: a Celery worker with N processes on the broker
        # runs the planner, the tick and the outbox on the simulated clock (eprp/simclock.py).
        self.workers = workers
        self.by_pid: dict[object, SimPatient] = {}
        self._published = 0  # the broker's publish count when the simulator last read what was sent
        self._checked = 0  # ... and when it last checked that the outbox had drained
        self._read_cursor: datetime | None = None
        self._read_at_cursor: set = set()

    # --- set-up --------------------------------------------------------------------------

    def _make_patients(self):
        sites = list(self.study.sites.order_by("number"))
        existing = Participant.objects.filter(study=self.study, usubjid__startswith="SIM").count()
        for i in range(self.n):
            p = patients.new_patient(self.rng, site=sites[i % len(sites)], number=existing + i + 1, seed=self.seed,
                                     start=self.start, weeks=self.weeks)
            self.patients[p.usubjid] = p

    def _enroll(self, p: SimPatient):
        participant = participants.enroll_participant(
            study=self.study, site_number=p.site, usubjid=p.usubjid, phone=p.phone, zone=p.zone,
            language=p.language, runin_start=p.runin_start, actor="system:simulation",
        )
        p.participant_id = participant.pk
        self.by_pid[participant.pk] = p
        self.summary.participants += 1

    # --- the clock loop ------------------------------------------------------------------

    def run(self) -> Summary:
        self._make_patients()
        if self.workers:
            return self._run_on_workers()
        # Read before the override below: Celery may load its configuration from the overridden
        # settings, and restoring that value would leave every later task eager in this process.
        eager = app.conf.task_always_eager
        with (
            override_settings(SMS_BACKEND="locmem", TWILIO_AUTH_TOKEN=TOKEN, ALLOWED_HOSTS=["*"],
                              CELERY_TASK_ALWAYS_EAGER=True),
            time_machine.travel(self.start, tick=False) as clock,
        ):
            app.conf.task_always_eager = True  # the outbox sends inline, on the simulated clock
            try:
                self._loop(clock)
            finally:
                app.conf.task_always_eager = eager
        return self.summary

    def _run_on_workers(self) -> Summary:
        """The same loop, with the beat's tasks and the outbox on a real Celery worker.

        The worker (N prefork processes) reads the simulated clock from Redis around every
        task; the simulator waits for the work it set off to drain before moving the clock.
        """
        if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL.startswith("redis://"):
            raise RuntimeError("--workers needs PostgreSQL and Redis (DATABASE_URL, CELERY_BROKER_URL)")
        if app.conf.task_always_eager:
            raise RuntimeError("--workers with CELERY_TASK_ALWAYS_EAGER set: the tasks would not reach the workers")
        app.control.purge()  # nothing left over from an earlier run on this broker
        simclock.reset()
        simclock.publish_now(self.start)
        simclock.connect_publisher()
        self._worker = start_worker(self.workers)
        try:
            with (
                override_settings(SMS_BACKEND="locmem", TWILIO_AUTH_TOKEN=TOKEN, ALLOWED_HOSTS=["*"]),
                time_machine.travel(self.start, tick=False) as clock,
            ):
                self._loop(clock)
                self._drain()
            self.summary.refused += simclock.refused()
        finally:
            simclock.disconnect_publisher()
            stop_worker(self._worker)
            simclock.reset()
        return self.summary

    def _loop(self, clock):
        """Jump from event to event: the hourly ticks, due prompts and patients' replies."""
        now = self.start
        last_plan = None
        locmem.outbox.clear()
        while now < self.end:
            clock.move_to(now)
            if self.workers:
                simclock.publish_now(now)
            if now.minute == 0 and now.second == 0:
                self._site_work(now)
                if last_plan is None or now - last_plan >= timedelta(hours=6):
                    self._plan_prompts(now)
                    last_plan = now
                if now.hour % 3 == 0:  # the beat runs it hourly; every 3 h is enough for a 2-day streak
                    self._alert_missed_diaries(now)
                if self.progress:
                    self.progress(now - self.start, self.end - self.start, now)
            self._dispatch(now)
            if self.workers:
                self._read_sent(now)
            else:
                self._read_outbox(now)
            next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            due = ScheduledPrompt.objects.filter(status=PromptStatus.PENDING, due_at__gt=now).order_by("due_at")
            upcoming = [next_hour, self.end]
            if (first := due.values_list("due_at", flat=True).first()) is not None:
                upcoming.append(first)
            if self.workers:
                # Nothing but replies happens before the next hour or due prompt: the workers
                # play them all at once, each at its own moment, one patient's in order.
                later = min(upcoming)
                self._play_replies_on_workers(later)
            else:
                if self.replies:
                    upcoming.append(self.replies[0].at)
                later = min(upcoming)
                self._send_due_replies(later, clock)
            now = max(later, now + timedelta(seconds=1))

    # --- the beat's work: inline, or on the workers ----------------------------------------

    def _plan_prompts(self, now: datetime):
        if self.workers:
            self._on_workers(tasks.plan_prompts)
        else:
            planner.plan_prompts(now=now)

    def _alert_missed_diaries(self, now: datetime):
        if self.workers:
            self._on_workers(tasks.alert_missed_diaries)
        else:
            missed.alert_missed_diaries(now=now)

    def _dispatch(self, now: datetime):
        # The beat ticks every minute whatever is due; an empty tick changes nothing, so the
        # simulator ticks only when a prompt is due (an indexed EXISTS instead of the tick's
        # locking SELECT: most of the simulator's steps are a reply, not a due prompt).
        due = ScheduledPrompt.objects.filter(status=PromptStatus.PENDING, due_at__lte=now)
        if not self.workers:
            if due.exists():
                dispatch.dispatch_due_prompts(now=now, time_budget=None)
            return
        # Ticks until none is left: a prompt planned while a tick ran may be due already.
        for _ in range(20):
            if not due.exists():
                break
            self._on_workers(tasks.dispatch_due_prompts)
        else:
            raise RuntimeError(f"prompts due by {now} still pending after 20 ticks")

    def _on_workers(self, task):
        task.delay()
        self._drain()

    def _drain(self, seconds: float = 300.0):
        """The barrier: wait until every task published so far has finished."""
        deadline = clock_time.monotonic() + seconds
        while not simclock.wait_drained(timeout=1):
            if self._worker.poll() is not None:
                raise RuntimeError(f"the simulation's worker exited ({self._worker.returncode}); see {worker_log()}")
            if clock_time.monotonic() > deadline:
                raise RuntimeError(f"tasks still in flight after {seconds:.0f} s; see {worker_log()}")
        published = simclock.published()
        if published == self._checked:
            return  # nothing published since the last check
        self._checked = published
        if OutboundMessage.objects.filter(status__in=(OutboundStatus.QUEUED, OutboundStatus.SENDING)).exists():
            raise RuntimeError("every task finished but outbound messages are still queued or sending")

    def _site_work(self, now: datetime):
        """What site staff do: enroll on run-in start, Day 1 at 10:00, visits, discontinuations.

        Every simulated hour, for every patient: the local time is worked out once per zone,
        and the database is read only on a day something can happen to the patient.
        """
        local_by_zone: dict[str, datetime] = {}
        runin_days = timedelta(days=self.rules.runin_days)
        for p in self.patients.values():
            local = local_by_zone.get(p.zone)
            if local is None:
                local = local_by_zone[p.zone] = now.astimezone(ZoneInfo(p.zone))
            today = local.date()
            if p.participant_id is None:
                if today >= p.runin_start - timedelta(days=1):
                    self._enroll(p)
                continue
            day1 = p.runin_start + runin_days
            if today == day1 and local.hour >= 10 and not p.day1_done:
                participant = Participant.objects.get(pk=p.participant_id)
                if participant.first_application_at is None and participant.phase == Phase.RUNIN:
                    participants.record_first_application(participant=participant, at=now,
                                                          actor="user:site-coordinator")
                p.day1_done = True
            if local.hour == 11:
                self._visits_and_ends(p, today, day1)
                self._opt_out_and_back(p, today, now)

    def _visit_days(self, p: SimPatient, day1: date) -> dict[date, int]:
        if p.visit_days is None:
            p.visit_days = {}
            for week in self.rules.visit_weeks:
                moved = (sum(map(ord, p.usubjid)) + week) % 3 - 1  # visits land a day early, on time or late
                if week <= self.weeks:
                    p.visit_days[day1 + timedelta(days=7 * week + moved)] = week
        return p.visit_days

    def _visits_and_ends(self, p: SimPatient, today: date, day1: date):
        if p.ended:
            return
        week = self._visit_days(p, day1).get(today)
        ending = p.discontinue_on is not None and today >= p.discontinue_on
        week8 = not p.week8_done and today >= day1 + timedelta(days=56)
        if week is None and not ending and not week8:
            return  # nothing for the site today: no need to read the participant
        participant = Participant.objects.get(pk=p.participant_id)
        if participant.phase in (Phase.WITHDRAWN, Phase.COMPLETED):
            p.ended = True
            return
        if week is not None:
            participants.record_visit(participant=participant, week=week, visit_date=today,
                                  actor="user:site-coordinator")
        if ending:
            participants.discontinue_participant(participant=participant, on=today, actor="user:site-coordinator",
                                             reason="withdrew consent (simulated)")
            p.ended = True
            return
        if week8:
            if participant.phase == Phase.VEHICLE_CONTROLLED:
                participants.change_phase(participant=participant, phase=Phase.LONG_TERM, actor="user:site-coordinator",
                                      reason="Week 8 visit: long-term period")
            p.week8_done = True  # long-term now, or never in the vehicle-controlled period: nothing more at Week 8

    def _opt_out_and_back(self, p: SimPatient, today: date, now: datetime):
        for at, body in patients.opt_out_and_back(self.rng, p, today, now):
            self._reply(p, at, body)

    # --- patients ------------------------------------------------------------------------

    def _read_outbox(self, now: datetime):
        """One process: what the locmem transport sent since the last step."""
        sids = [m["sid"] for m in locmem.outbox]
        locmem.outbox.clear()
        if not sids:
            return
        rows = (OutboundMessage.objects.filter(provider_sid__in=sids).order_by()
                .values_list("participant_id", "kind", "sent_at"))
        self._react_to_sent(rows, now)

    def _read_sent(self, now: datetime):
        """With workers: their locmem outbox is theirs, so read the sent messages from the database.

        Only after something was published (every send is a task), and only the rows sent
        since the last read, through the (status, updated_at) index: sending sets both.
        """
        published = simclock.published()
        if published == self._published:
            return
        self._published = published
        rows = list(OutboundMessage.objects.filter(status=OutboundStatus.SENT,
                                                   updated_at__gte=self._read_cursor or self.start)
                    .order_by().values_list("pk", "participant_id", "kind", "sent_at"))
        new = [r[1:] for r in rows if r[0] not in self._read_at_cursor]
        self._read_cursor = now
        self._read_at_cursor = {r[0] for r in rows if r[3] >= now}
        self._react_to_sent(new, now)

    def _react_to_sent(self, rows, now: datetime):
        """(participant id, kind, sent at) rows: each patient reacts, in one order whatever the mode.

        The order the outbox sent them in is not stable (messages of one moment are sent
        in random-UUID order, and by two processes with workers), and the patients draw from
        one random generator: sort them, so that a seed always gives the same trial.
        """
        sent = sorted((at, self.by_pid[pid].usubjid, kind) for pid, kind, at in rows if pid in self.by_pid)
        for _at, usubjid, kind in sent:
            self._react(self.patients[usubjid], kind, now)

    def _react(self, p: SimPatient, kind: str, now: datetime):
        for at, body in patients.reactions(self.rng, p, self.rules, kind, now):
            self._reply(p, at, body)

    def _reply(self, p: SimPatient, at: datetime, body: str):
        self.seq += 1
        heapq.heappush(self.replies, Reply(at, self.seq, p.usubjid, body))

    def _send_due_replies(self, until: datetime, clock):
        """One process: each reply through Django's request handling, at its own moment."""
        while self.replies and self.replies[0].at <= until:
            reply = heapq.heappop(self.replies)
            clock.move_to(reply.at)
            p = self.patients[reply.usubjid]
            if reply.body == WEB:
                if not record_web_diary(p.participant_id, *patients.web_answers(self.rng, p, self.rules, reply.at)):
                    self.summary.refused += 1
                continue
            params, signature = patients.webhook_form(p, reply, self.seed)
            response = self.client.post(INBOUND_URL, params, HTTP_X_TWILIO_SIGNATURE=signature)
            if response.status_code != 200:
                raise RuntimeError(f"inbound webhook answered {response.status_code}")
            self.summary.inbound += 1

    def _play_replies_on_workers(self, until: datetime):
        """With workers: every reply due by `until`, as tasks the workers run in parallel.

        One patient's replies stay in one task, in order, each on its own simulated moment
        (a patient's PROMIS answers follow their itch score); different patients' run side
        by side, as concurrent webhooks do in production. The random draws of the web
        diary's answers happen here, in the order the replies are due, as in one process.
        """
        by_patient: dict[str, list] = {}
        while self.replies and self.replies[0].at <= until:
            reply = heapq.heappop(self.replies)
            p = self.patients[reply.usubjid]
            if reply.body == WEB:
                itch, options = patients.web_answers(self.rng, p, self.rules, reply.at)
                op = {"at": reply.at.timestamp(), "web": [str(p.participant_id), itch, options]}
            else:
                params, signature = patients.webhook_form(p, reply, self.seed)
                op = {"at": reply.at.timestamp(), "sms": [params, signature]}
                self.summary.inbound += 1
            by_patient.setdefault(reply.usubjid, []).append(op)
        if not by_patient:
            return
        # A few tasks per worker process, balanced by the number of replies in each.
        chunks: list[list] = [[] for _ in range(min(len(by_patient), self.workers * 4))]
        for ops in sorted(by_patient.values(), key=len, reverse=True):
            min(chunks, key=len).extend(ops)
        for chunk in chunks:
            app.send_task(simclock.REPLIES_TASK, args=[chunk])
        self._drain()
        if failures := simclock.failures():
            raise RuntimeError(f"simulated replies failed on the workers: {failures[:5]}; see {worker_log()}")

    # --- the end -------------------------------------------------------------------------

    def finish(self, *, export_dir) -> Summary:
        """Unblind (import the randomization as a statistician) and write the transfer."""
        statistician = _statistician()
        rows = ["USUBJID,ARM,STRATUM"] + [f"{p.usubjid},{p.arm},{p.stratum}" for p in self.patients.values()
                                          if p.participant_id is not None]
        already = set(Randomization.objects.filter(participant__study=self.study).values_list(
            "participant__usubjid", flat=True))
        text = "\n".join(r for r in rows if r.split(",")[0] not in already) + "\n"
        if text.count("\n") > 1:
            import_randomization(study=self.study, text=text, user=statistician)
        # The transfer is of the participants this simulation randomized: others of the study
        # without an arm (the demo's, a real study's) are left out explicitly and listed in the
        # manifest, never pooled.
        manifest = audited_export_transfer(study=self.study, directory=export_dir, formats=["csv"], unblinded=True,
                                           actor=statistician, exclude_unrandomized=True)
        s = self.summary
        s.export_dir = str(export_dir)
        s.outbound = OutboundMessage.objects.filter(participant__usubjid__startswith=f"SIM-{self.seed}-").count()
        s.inbound = InboundMessage.objects.filter(participant__usubjid__startswith=f"SIM-{self.seed}-").count()
        s.outcomes = Counter(InboundMessage.objects.filter(participant__usubjid__startswith=f"SIM-{self.seed}-")
                             .values_list("outcome", flat=True))
        s.records = DiaryRecord.objects.current().filter(participant__usubjid__startswith=f"SIM-{self.seed}-").count()
        s.alerts = Counter(Alert.objects.filter(participant__usubjid__startswith=f"SIM-{self.seed}-")
                           .values_list("kind", flat=True))
        with open(f"{export_dir}/endpoint_summary.csv", encoding="utf-8") as f:
            s.endpoint_rows = list(csv.DictReader(f))
        s.manifest = manifest
        return s


def _statistician():
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username="simulation-statistician",
                                                      defaults={"is_active": True})
    if created:
        user.set_unusable_password()
        user.save()
    ct = ContentType.objects.get_for_model(Randomization)
    for codename in ("import_randomization", "view_randomization"):
        perm, _ = Permission.objects.get_or_create(codename=codename, content_type=ct,
                                                   defaults={"name": codename.replace("_", " ")})
        user.user_permissions.add(perm)
    return user_model.objects.get(pk=user.pk)


def default_end() -> datetime:
    return timezone.now()
