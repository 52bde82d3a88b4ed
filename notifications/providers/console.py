import sys
import uuid

from diaries.phones import mask
from notifications.providers import Sent, Transport


class ConsoleTransport(Transport):
    """Prints each message (the embedded shape): the number is masked, the text shown."""

    def send(self, *, to, body, status_callback, validity_period=None):
        sid = f"CON{uuid.uuid4().hex}"
        sys.stdout.write(f"[sms to {mask(to)}] {body}\n")
        sys.stdout.flush()
        return Sent(provider_sid=sid)
