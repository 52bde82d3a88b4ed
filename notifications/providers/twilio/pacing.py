"""Paced sending: at most SMS_MAX_PER_SECOND API calls a second per sender, across all workers.

Twilio queues what a sender cannot send at once, up to a message's ValidityPeriod, and
answers 21611/30001 when that queue overflows; pacing our calls to the sender's real rate
keeps the queue empty, so the prompt we send first (earliest deadline first) is also the
one the carrier delivers first. The counter is one per sender and calendar second on
Redis's own clock (one clock for every worker); in the embedded shape (no Redis) it is in
the process, which is the only one sending.

Also here: a sender that carriers refuse (30007 filtered, 30034 unregistered) is paused
when every one of its recent messages failed, so a whole evening's prompts are not burnt,
until the operator resumes it.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import redis
from django.conf import settings
from django.core.cache import cache

from notifications.providers import Pause

# A fixed window per second on Redis's clock: INCR the second's counter; over the budget,
# wait until the next second (microseconds returned) and try again. A call made in the last
# LATE_IN_SECOND of a second may reach Twilio in that second or the next, so it counts
# against both: it goes only while both have room. (It used to wait for the next second,
# so a sender that could not make its whole budget of calls in the first 0.8 s of a second
# sent nothing in the last fifth of every second: at most 80% of what it could send.)
LATE_IN_SECOND = 0.2
_TAKE = """
local t = redis.call('TIME')
local second = tonumber(t[1])
local us = tonumber(t[2])
local rate = tonumber(ARGV[1])
local keys = {KEYS[1] .. ':' .. second}
if us >= 1000000 - tonumber(ARGV[2]) then keys[2] = KEYS[1] .. ':' .. (second + 1) end
for _, key in ipairs(keys) do
  if tonumber(redis.call('GET', key) or '0') >= rate then return 1000000 - us end
end
for _, key in ipairs(keys) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, 5) end
end
return 0
"""

_local_lock = threading.Lock()
_local_counts: dict[tuple[str, int], int] = {}
_scripts: dict[str, object] = {}


def sender() -> str:
    """The sender the budget belongs to: the Messaging Service, else the number."""
    return settings.TWILIO_MESSAGING_SERVICE_SID or settings.TWILIO_FROM_NUMBER or "default"


def wait_for_turn(*, who: str | None = None, per_second: int | None = None) -> float:
    """Block until this sender may make one more call this second; the seconds waited."""
    rate = settings.SMS_MAX_PER_SECOND if per_second is None else per_second
    if rate <= 0:
        return 0.0
    key = f"eprp:sms-pace:{who or sender()}"
    started = time.monotonic()
    while (wait := _take(key, rate)) > 0:
        time.sleep(wait)
    return time.monotonic() - started


def _take(key: str, rate: int) -> float:
    url = settings.SMS_PACING_REDIS_URL
    if url:
        return _script(url)(keys=[key], args=[rate, int(LATE_IN_SECOND * 1e6)]) / 1e6
    now = time.time()
    second = int(now)
    seconds = [second, second + 1] if now - second >= 1 - LATE_IN_SECOND else [second]
    with _local_lock:
        for old in [k for k in _local_counts if k[1] < second]:
            del _local_counts[old]
        if any(_local_counts.get((key, s), 0) >= rate for s in seconds):
            return (second + 1) - now
        for s in seconds:
            _local_counts[(key, s)] = _local_counts.get((key, s), 0) + 1
    return 0.0


def _script(url: str):
    script = _scripts.get(url)
    if script is None:
        script = _scripts[url] = redis.Redis.from_url(url).register_script(_TAKE)
    return script


# A sender is paused after this many carrier refusals in a row with nothing delivered in between,
# and stays paused until the operator resumes it (`manage.py sms_sender resume`): an unregistered
# 10DLC number (30034) or filtered content (30007) does not fix itself, and every text sent
# meanwhile would be refused too (and count against the sender with the carriers).
PAUSE_AFTER = 10
# Refusals are counted in a row within this long; the pause itself has no expiry.
REFUSED_WINDOW = 15 * 60


def _health_key(who: str) -> str:
    return f"eprp:sms-refused:{who}"


def _pause_key(who: str) -> str:
    return f"eprp:sms-paused:{who}"


def record_refused(*, who: str | None = None) -> bool:
    """One more message refused because of the sender (30007, 30034); True when that paused it."""
    who = who or sender()
    cache.add(_health_key(who), 0, timeout=REFUSED_WINDOW)
    refused = cache.incr(_health_key(who))
    if refused >= PAUSE_AFTER:
        return cache.add(_pause_key(who), {"since": time.time(), "refused": refused}, timeout=None)
    return False


def record_delivered(*, who: str | None = None) -> None:
    """A delivered message: the sender works, the count of refusals in a row starts again."""
    cache.delete(_health_key(who or sender()))


def is_paused(*, who: str | None = None) -> bool:
    return cache.get(_pause_key(who or sender())) is not None


def paused(*, who: str | None = None) -> Pause | None:
    """The sender's pause (since when, after how many refusals), or None."""
    who = who or sender()
    value = cache.get(_pause_key(who))
    if value is None:
        return None
    return Pause(sender=who, since=datetime.fromtimestamp(value["since"], UTC), refused=value["refused"])


def refused_in_a_row(*, who: str | None = None) -> int:
    return cache.get(_health_key(who or sender())) or 0


def resume(*, who: str | None = None) -> bool:
    """The operator fixed the sender (registered the campaign, changed the content); True if it was paused."""
    who = who or sender()
    was_paused = is_paused(who=who)
    cache.delete_many([_pause_key(who), _health_key(who)])
    return was_paused
