"""One diary, three channels: SMS, the web diary and the app submit through `submit_diary` and agree.

The same refused diary leaves exactly one `diary.refused` audit event per attempt, of the
same shape, whatever the channel; the same accepted diary leaves the same records, apart
from the channel that carried it.
"""

import re
import uuid
from datetime import datetime
from urllib.parse import urlparse

import pytest
import time_machine
from django.test import Client
from rest_framework.test import APIClient

from diaries.models import AuditEvent, DiaryRecord
from diaries.patient.app.auth import issue_token
from diaries.patient.web import links
from tests.conftest import CHICAGO, enroll
from tests.fake_twilio import signed_post

pytestmark = pytest.mark.django_db
TOKEN = "test-auth-token"
CHANNELS = ("sms", "web", "app")
PROMIS = {n: 3 for n in range(1, 9)}
EVENING = datetime(2026, 3, 10, 20, 0, tzinfo=CHICAGO)
MORNING = datetime(2026, 3, 10, 12, 0, tzinfo=CHICAGO)  # between 03:00 and 17:00: the diary is closed


@pytest.fixture(autouse=True)
def _twilio(settings):
    settings.TWILIO_AUTH_TOKEN = TOKEN


@pytest.fixture
def patient(study):
    """A participant in the vehicle-controlled period, in Chicago."""
    return enroll(study, f"TRUE-AD-101-{uuid.uuid4().hex[:4]}", phone="+13125550188", zone="America/Chicago",
                  first_application_at=datetime(2026, 3, 8, 10, 0, tzinfo=CHICAGO))


class Channel:
    """A patient on one channel, as far as the outside world sees it."""

    def __init__(self, name, participant):
        self.name, self.participant, self.sids = name, participant, 0
        if name == "web":
            self.client = Client()
        elif name == "app":
            self.client = APIClient()
            self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(participant=participant)[1]}")
        else:
            self.client = Client()

    def text(self, body):
        self.sids += 1
        params = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": self.participant.phone, "To": "+13125550999",
                  "Body": body, "NumMedia": "0"}
        response = signed_post(self.client, "/sms/twilio/inbound/", params, TOKEN)
        assert response.status_code == 200
        return response

    def web_open(self):
        assert self.client.get(urlparse(links.make_link(self.participant)).path).status_code == 302

    def web_step(self, n, value):
        return self.client.post(f"/diary/today/{n}/", {"answer": value})

    def app_post(self, instrument, answers):
        return self.client.post("/api/v1/patient/answers", {"instrument": instrument, "answers": answers},
                                format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    def submit_diary(self, itch, promis):
        """The whole evening diary, the way this channel's patient sends it."""
        if self.name == "sms":
            self.text(str(itch))
            self.text(" ".join(str(promis[n]) for n in range(1, 9)))
        elif self.name == "web":
            self.web_open()
            for n, value in enumerate([itch] + [promis[n] for n in range(1, 9)], start=1):
                assert self.web_step(n, value).status_code == 302
            assert self.client.post("/diary/today/submit/").status_code == 302
        else:
            assert self.app_post("ITCH_NRS", {"1": itch}).status_code == 201
            assert self.app_post("PROMIS_SD8B", {str(n): v for n, v in promis.items()}).status_code == 201

    def submit_itch(self, value):
        """Tonight's itch, the first thing each channel takes."""
        if self.name == "sms":
            self.text(str(value))
        elif self.name == "web":
            self.web_open()
            self.web_step(1, value)
        else:
            self.app_post("ITCH_NRS", {"1": value})


def refusals(participant):
    return list(AuditEvent.objects.filter(action="diary.refused", object_id=str(participant.pk)))


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_invalid_answer_is_refused_once_in_the_shared_shape(channel, patient):
    with time_machine.travel(EVENING, tick=False):
        Channel(channel, patient).submit_itch(11)
    [event] = refusals(patient)
    assert event.after == {"channel": channel, "timepoint": "DAILY", "reason": "invalid_answer",
                           "message": event.after["message"], "next_opens_at": None,
                           "answers": {"ITCH_NRS": {"1": 11}}}
    assert not DiaryRecord.objects.filter(participant=patient).exists()


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_diary_outside_the_window_is_refused_once_in_the_shared_shape(channel, patient):
    me = Channel(channel, patient)
    if channel == "web":
        # The web diary is filled in while the window is open and sent after it closed.
        with time_machine.travel(datetime(2026, 3, 10, 2, 50, tzinfo=CHICAGO), tick=False):
            me.web_open()
            for n, value in enumerate([7] + [PROMIS[n] for n in range(1, 9)], start=1):
                me.web_step(n, value)
        with time_machine.travel(datetime(2026, 3, 10, 3, 5, tzinfo=CHICAGO), tick=False):
            response = me.client.post("/diary/today/submit/")
        assert response.status_code == 409
    else:
        with time_machine.travel(MORNING, tick=False):
            me.submit_itch(7)
    [event] = refusals(patient)
    assert event.after["channel"] == channel
    assert {k: v for k, v in event.after.items() if k not in ("channel", "answers", "message")} == {
        "timepoint": "DAILY", "reason": "outside_window", "next_opens_at": "2026-03-10T22:00:00+00:00"}
    assert event.after["answers"]["ITCH_NRS"] == {"1": 7}
    assert not DiaryRecord.objects.filter(participant=patient).exists()


def test_the_same_diary_by_each_channel_gives_the_same_records(study):
    people = {name: enroll(study, f"TRUE-AD-101-00{i}9", phone=f"+1312555017{i}", zone="America/Chicago",
                           first_application_at=datetime(2026, 3, 8, 10, 0, tzinfo=CHICAGO))
              for i, name in enumerate(CHANNELS)}
    with time_machine.travel(EVENING, tick=False):
        for name, participant in people.items():
            Channel(name, participant).submit_diary(7, PROMIS)

    def records(participant):
        rows = DiaryRecord.objects.current().filter(participant=participant).order_by("instrument")
        return [(r.instrument, r.timepoint, r.diary_date, r.answers, r.derived, r.channel) for r in rows]

    sms, web, app = (records(people[name]) for name in CHANNELS)
    assert [r[:-1] for r in sms] == [r[:-1] for r in web] == [r[:-1] for r in app]
    assert [r[-1] for r in sms + web + app] == ["sms"] * 2 + ["web"] * 2 + ["app"] * 2
    assert not AuditEvent.objects.filter(action="diary.refused").exists()


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_second_clearance_keeps_the_first_stop_day_and_a_late_one_needs_no_cream(channel, patient):
    from diaries import participants, treatment

    participants.change_phase(participant=patient, phase="long_term", actor="system:test")
    treatment.report_clearance(participant=patient, channel="sms", at=datetime(2026, 6, 1, 20, 0, tzinfo=CHICAGO))
    me = Channel(channel, patient)

    def clear():
        if channel == "sms":
            return me.text("CLEAR").content.decode()
        if channel == "web":
            me.web_open()
            me.client.post("/diary/skin/clear/")
            return me.client.get("/diary/skin/done/").content.decode()
        response = me.client.post("/api/v1/patient/reports", {"kind": "cleared"}, format="json",
                                  HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
        return " ".join(response.json()["messages"])

    with time_machine.travel(datetime(2026, 6, 2, 20, 0, tzinfo=CHICAGO), tick=False):
        text = clear()  # keep applying until the first clearance's stop day, Thursday 4 June
        assert re.search(r"\bThu[a-z]*,? (4 Jun|June 4)", text), text
    with time_machine.travel(datetime(2026, 6, 8, 20, 0, tzinfo=CHICAGO), tick=False):
        assert "no cream needed" in clear()
