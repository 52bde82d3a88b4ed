"""The inbound path's side effects: only tonight's reminders are cancelled in the request, the rest is a task.

A text that raises a site alert must get its TwiML reply at once, whatever the mail server
does: the alert's e-mail goes through a task after the commit. Here the SMTP server accepts
the connection, greets, and then never answers.
"""

import socket
import threading
import time
import uuid
from datetime import datetime

import pytest
import time_machine
from django.core import mail

from diaries import participants
from diaries.alert_email import email_site_staff_task
from diaries.models import Alert, AlertKind
from tests.conftest import CHICAGO
from tests.fake_twilio import signed_post

TOKEN = "test-auth-token"


class StallingSMTP:
    """An SMTP server that greets and then stalls: every later command waits forever."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        held = []
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.sendall(b"220 stalling.test ESMTP\r\n")
            held.append(conn)  # read nothing, answer nothing
        for conn in held:
            conn.close()
        self.sock.close()


@pytest.fixture
def stalling_smtp(settings):
    server = StallingSMTP()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield server
    server.stop.set()


@pytest.mark.django_db(transaction=True)
def test_a_text_that_alerts_the_site_is_answered_at_once_while_smtp_stalls(client, alice, settings, stalling_smtp,
                                                                            django_user_model):
    settings.TWILIO_AUTH_TOKEN = TOKEN
    staff = django_user_model.objects.create_user("coordinator", "coordinator@example.org", "pw", is_staff=True)
    alice.site.staff.add(staff)
    participants.change_phase(participant=alice, phase="long_term", actor="system:test")

    def text(body):
        params = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": alice.phone, "To": "+13125550999", "Body": body,
                  "NumMedia": "0"}
        started = time.monotonic()
        response = signed_post(client, "/sms/twilio/inbound/", params, TOKEN)  # commits: on-commit work runs here
        return response, time.monotonic() - started

    with time_machine.travel(datetime(2026, 6, 10, 20, 0, tzinfo=CHICAGO), tick=True):
        text("FLARE")
        response, seconds = text("YES")  # lesions in new areas or extensive: the site is alerted
    assert response.status_code == 200 and "site will call" in response.content.decode()
    assert seconds < 1.0, f"the TwiML reply took {seconds:.2f} s"
    alert = Alert.objects.get(kind=AlertKind.LESIONS_SPREAD, participant=alice)
    assert stalling_smtp.connections == 0  # nobody talked to the mail server in the request

    # The e-mail is the task's work: it is the one that waits for the stalled server, and gives up.
    started = time.monotonic()
    assert email_site_staff_task(alert.pk) == 0
    assert time.monotonic() - started >= 1.5 and stalling_smtp.connections == 1
    assert mail.outbox == []
