"""Push transports, chosen by PUSH_BACKEND: providers (FCM for Android, APNs for iOS), console, locmem.

Each answers a `push.PushResult` and never raises for a provider's answer. `providers`
builds one client per platform and process from the environment (FcmConfig,
ApnsConfig): the FCM access token and the APNs provider token are cached in the client,
so a client lives as long as its worker process. A platform whose provider is not
configured fails its pushes permanently ("not_configured"), for the site to see.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid

from django.conf import settings

from . import push
from .apns import ApnsConfig, ApnsTransport
from .fcm import FcmConfig, FcmTransport
from .push import Push, PushResult

BACKENDS = ("providers", "console", "locmem")

# Pushes "sent" in this process, for tests; like providers.locmem.outbox.
outbox: list[dict] = []
# Results to answer on the next pushes instead of sending, e.g. [push.dead_token("UNREGISTERED")].
answer_next: list[PushResult] = []
_lock = threading.Lock()


def send_push(platform: str, message: Push) -> PushResult:
    """Hand one push to the backend for the device's platform (ios: APNs, android: FCM)."""
    backend = settings.PUSH_BACKEND
    if backend == "console":
        sys.stdout.write(f"[push to {platform} device] {message.title}: {message.body} ({message.link})\n")
        sys.stdout.flush()
        return push.sent(f"console-{uuid.uuid4().hex}")
    if backend == "locmem":
        with _lock:
            if answer_next:
                return answer_next.pop(0)
            outbox.append({"platform": platform, "push": message})
        return push.sent(f"locmem-{uuid.uuid4().hex}")
    client = _client(platform)
    if client is None:
        return push.permanent("not_configured", f"no push provider configured for {platform} devices")
    return client.send(message)


_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def _client(platform: str):
    """One client per process, platform and configuration (the environment it was built from)."""
    prefix = "FCM_" if platform == "android" else "APNS_"
    key = (os.getpid(), platform, tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(prefix))))
    with _clients_lock:
        if key not in _clients:
            config = FcmConfig.from_environ() if platform == "android" else ApnsConfig.from_environ()
            transport = FcmTransport if platform == "android" else ApnsTransport
            _clients[key] = None if config is None else transport(config)
        return _clients[key]


def configuration_problems(environ=None) -> list[tuple[str, str]]:
    """(variable, problem) for a push provider configured wrongly; none when a provider is simply absent."""
    problems = []
    for variables, config in (("FCM_SERVICE_ACCOUNT_*", FcmConfig), ("APNS_*", ApnsConfig)):
        try:
            config.from_environ(environ)
        except push.PushConfigError as exc:
            problems.append((variables, str(exc)))
    return problems
