"""Sign-in limits are counted in a cache every process shares: Redis in production, files in var/ embedded."""

import os

import pytest

from tests.production.settings_probe import PRODUCTION, environment, read_settings, run

INCREMENT = (
    "import django; django.setup(); from django.core.cache import cache; "
    "cache.add('eprp-test-shared', 0, 60); print(cache.incr('eprp-test-shared'))"
)


def test_production_counts_in_redis():
    got = read_settings(["CACHES"], environment(PRODUCTION))
    assert got["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert got["CACHES"]["default"]["LOCATION"] == PRODUCTION["CELERY_BROKER_URL"]
    own = read_settings(["CACHES"], environment(PRODUCTION, CACHE_URL="redis://cache.internal:6379/3"))
    assert own["CACHES"]["default"]["LOCATION"] == "redis://cache.internal:6379/3"
    wrong = run(["manage.py", "check"], environment(PRODUCTION, CACHE_URL="memcached://cache:11211"))
    assert wrong.returncode != 0 and "CACHE_URL: expected a redis:// URL" in wrong.stderr


def test_two_embedded_processes_share_the_counts(tmp_path):
    env = environment(EPRP_MODE="embedded", EPRP_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="eprp.settings",
                      DATABASE_URL=None, CELERY_BROKER_URL="filesystem://")
    counts = [run(["-c", INCREMENT], env) for _ in range(2)]
    assert [c.stdout.split()[-1] for c in counts] == ["1", "2"], [c.stderr for c in counts]


def test_two_production_processes_share_the_counts_in_redis():
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        pytest.skip("needs Redis (CI sets CELERY_BROKER_URL to it)")
    import redis

    client = redis.Redis.from_url(broker)
    env = environment(PRODUCTION, CELERY_BROKER_URL=broker, DJANGO_SETTINGS_MODULE="eprp.settings")
    for key in client.scan_iter("*eprp-test-shared*"):
        client.delete(key)
    counts = [run(["-c", INCREMENT], env) for _ in range(2)]
    assert [c.stdout.split()[-1] for c in counts] == ["1", "2"], [c.stderr for c in counts]
    keys = list(client.scan_iter("*eprp-test-shared*"))
    assert len(keys) == 1  # in Redis itself, where every gunicorn worker counts
    client.delete(*keys)
