"""Schema-driven fuzzing of every patient route with schemathesis, against the WSGI app in-process.

Whatever the generated requests (valid and invalid bodies, headers and query strings),
the API never answers 5xx and every response matches the OpenAPI document a mobile
developer builds a client from: status code, content type, headers and body.

The operations are driven one by one through `APIOperation.as_strategy` under plain
Hypothesis rather than `schemathesis.pytest.from_fixture`, whose lazy loader does not run
on pytest 9 (it rewrites `node._nodeid`, which pytest 9 no longer has).
"""

from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import schemathesis
import time_machine
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from diaries.models import DiaryRecord

CHICAGO = ZoneInfo("America/Chicago")
# An evening in alice's vehicle-controlled period: the diary is open, so valid answer sets
# are recorded (201) and corrected, and invalid ones must be 400, never 500.
EVENING = datetime(2026, 3, 9, 19, 0, tzinfo=CHICAGO)
EXAMPLES = 25  # per operation and mode: 11 operations x 2 modes


# Which items an instrument has and which options each takes is study configuration,
# served by GET today, not schema: a schema-valid answer set may still be out of range (400).
# The same holds for the follow-up answers a report kind allows, and a well-formed code is
# still wrong unless it is the one texted.
DOMAIN_VALIDATED = {"POST /api/v1/patient/answers", "POST /api/v1/patient/reports", "POST /api/v1/patient/auth/token"}


def fuzz(operation, mode, statuses: Counter, headers) -> None:
    """Send EXAMPLES generated requests to one operation and validate every response."""
    label = f"{operation.method.upper()} {operation.path}"
    excluded = [positive_data_acceptance] if label in DOMAIN_VALIDATED else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case):
        response = case.call_and_validate(headers=headers(), excluded_checks=excluded)
        statuses[(label, mode.value, response.status_code)] += 1

    run()


@pytest.fixture
def keep_connection():
    """The raw WSGI app closes the database connection at the end of each request (Django's
    request signals); on PostgreSQL that would end the test's transaction. Django's test
    client disconnects the same handler for the same reason."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
def test_every_patient_route_keeps_to_its_schema(alice, bob, keep_connection):
    from diaries.patient.app.auth import issue_token
    from eprp.wsgi import application

    def signed_in():
        # A fresh token per request: a generated logout must not sign the rest out.
        return {"Authorization": f"Bearer {issue_token(participant=alice)[1]}"}

    statuses: Counter = Counter()
    with time_machine.travel(EVENING, tick=False):
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
        operations = [r.ok() for r in schema.include(path_regex=r"^/api/v1/patient/").get_all_operations()]
        assert len(operations) == 11  # reports has GET and POST, me GET and PATCH
        for operation in operations:
            public = operation.path in ("/api/v1/patient/auth/code", "/api/v1/patient/auth/token")
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, statuses, dict if public else signed_in)
    print("schemathesis:", sum(statuses.values()), "requests;",  # shown with -s or on failure
          ", ".join(f"{op} {mode} {code}: {n}" for (op, mode, code), n in sorted(statuses.items())))
    assert not any(code >= 500 for (_op, _mode, code) in statuses)
    # Valid answer sets really were recorded: the fuzzing reached the services, not only validation.
    assert any(code == 201 for (op, _mode, code) in statuses if op.endswith("/answers"))
    assert DiaryRecord.objects.filter(participant=bob).count() == 0
