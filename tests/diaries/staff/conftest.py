"""Personas of the admin tests and a populated site A (101) and site B (201).

coordinator: site staff of site A.  charlie: site staff of site B (never sees site A).
monitor: all sites, read-only.  sponsor: no admin at all (even with is_staff ticked).
statistician: unblinded, may import randomization.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from diaries import alerts, participants, roles
from diaries.models import AlertKind, Randomization
from tests.conftest import CHICAGO, answer, enroll, report_treatment

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def _roles(db):
    roles.setup_roles()


def _user(django_user_model, name, role, *, sites=(), study=None, **extra):
    user = django_user_model.objects.create_user(name, f"{name}@example.org", PASSWORD, is_staff=True, **extra)
    if role:
        user.groups.add(Group.objects.get(name=role))
    for number in sites:
        study.sites.get(number=number).staff.add(user)
    return user


@pytest.fixture
def coordinator(study, django_user_model):
    return _user(django_user_model, "coordinator", roles.SITE_STAFF, sites=["101"], study=study)


@pytest.fixture
def charlie_staff(charlie):
    """The shared `charlie` (site B staff) with the site staff role."""
    charlie.groups.add(Group.objects.get(name=roles.SITE_STAFF))
    return charlie


@pytest.fixture
def monitor(study, django_user_model):
    return _user(django_user_model, "monitor", roles.MONITOR)


@pytest.fixture
def sponsor(study, django_user_model):
    # is_staff ticked by mistake: the admin must still refuse the sponsor role.
    return _user(django_user_model, "sponsor", roles.SPONSOR)


@pytest.fixture
def statistician(study, django_user_model):
    return _user(django_user_model, "statistician", roles.STATISTICIAN)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.org", PASSWORD)


@pytest.fixture
def dora(study):
    """A participant of site B (201), charlie's."""
    return enroll(study, "TRUE-AD-201-0001", site="201", phone="+48601555099", zone="Europe/Warsaw",
                  first_application_at=datetime(2026, 3, 9, 9, 0, tzinfo=ZoneInfo("Europe/Warsaw")))


@pytest.fixture
def site_a_data(study, alice, bob, dora):
    """One object of every admin-registered kind at site A (and a few at site B)."""
    from notifications.models import InboundMessage, OutboundMessage, ScheduledPrompt

    now = timezone.now()
    record = answer(participant=alice, instrument="ITCH_NRS", answers={1: 6}, channel="sms",
                                     at=datetime(2026, 3, 9, 20, 0, tzinfo=CHICAGO))
    answer(participant=dora, instrument="ITCH_NRS", answers={1: 2}, channel="sms",
                            at=datetime(2026, 3, 9, 20, 0, tzinfo=ZoneInfo("Europe/Warsaw")))
    alert = alerts.raise_alert(participant=alice, kind=AlertKind.MISSED_DIARIES, key="alice:1",
                                 detail="No diary for 2 evenings")
    alerts.raise_alert(participant=dora, kind=AlertKind.MISSED_DIARIES, key="dora:1", detail="No diary")
    participants.change_phase(participant=bob, phase="long_term", actor="system:test")
    participants.record_first_application(participant=bob, at=datetime(2026, 3, 27, 9, 0, tzinfo=ZoneInfo("Europe/Warsaw")),
                                      actor="system:test")
    treatment = report_treatment(participant=bob, kind="cleared", channel="sms")
    randomization = Randomization.objects.create(participant=alice, arm="RUX15", stratum="", imported_at=now)
    outbound = OutboundMessage.objects.create(participant=alice, kind="diary", body="Skin Diary, diary for Mon",
                                              status="delivered", created_at=now, updated_at=now)
    inbound = InboundMessage.objects.create(message_sid="SM-alice-1", study=study, participant=alice,
                                            sender_hash="h-alice", sender_masked="+1312***0111", body="6",
                                            received_at=now, outcome="answer")
    prompt = ScheduledPrompt.objects.create(participant=alice, kind="diary", slot="2026-03-10",
                                            due_at=datetime(2026, 3, 10, 19, 0, tzinfo=CHICAGO),
                                            created_at=now, updated_at=now)
    from diaries.models import AuditEvent, PatientToken, PushDevice

    token = PatientToken.objects.create(participant=alice, key_hash="a" * 64, key_prefix="ept_alic", created_at=now,
                                        expires_at=now + timedelta(days=30))
    device = PushDevice.objects.create(participant=alice, platform="ios", token="apns-alice", created_at=now,
                                       last_registered_at=now)
    return {
        "patienttoken": token,
        "pushdevice": device,
        "site": alice.site,
        "participant": alice,
        "diaryrecord": record,
        "treatmentevent": treatment,
        "alert": alert,
        "auditevent": AuditEvent.objects.filter(site=alice.site).first(),
        "randomization": randomization,
        "outboundmessage": outbound,
        "inboundmessage": inbound,
        "scheduledprompt": prompt,
    }
