import threading
import uuid

from notifications.providers import Sent, Transport, TransportError

# Messages "sent" in this process, for tests; like django.core.mail.outbox.
outbox: list[dict] = []
# Errors to raise on the next sends, e.g. [TransportError("unsubscribed", code="21610")].
fail_next: list[TransportError] = []
_lock = threading.Lock()


class LocmemTransport(Transport):
    def send(self, *, to, body, status_callback, validity_period=None):
        with _lock:
            if fail_next:
                raise fail_next.pop(0)
            sid = f"SM{uuid.uuid4().hex}"
            outbox.append({"to": to, "body": body, "sid": sid, "status_callback": status_callback})
        return Sent(provider_sid=sid)
