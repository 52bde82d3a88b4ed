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
    assert got["CACHES"]["default"]["BACKEND"] == "eprp.cache.RedisCache"  # Django's, keeping its client
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


def test_the_redis_cache_keeps_one_client_for_every_call():
    # A new redis.Redis per call copies its response callbacks each time: more CPU than the round trip.
    from eprp.cache import RedisCache

    cache = RedisCache("redis://127.0.0.1:6379/0", {})
    first = cache._cache.get_client("a")
    assert cache._cache.get_client("b") is first
    assert cache._cache.get_client("c", write=True) is first  # one server: reads and writes alike
    replicas = RedisCache("redis://primary:6379/0,redis://replica:6379/0", {})
    primary = replicas._cache.get_client(write=True)
    assert replicas._cache.get_client(write=True) is primary
    assert replicas._cache.get_client() is replicas._cache.get_client() is not primary  # reads go to the replica


def test_the_kept_redis_client_counts_and_expires_as_djangos_does():
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        pytest.skip("needs Redis (CI sets CELERY_BROKER_URL to it)")
    from eprp.cache import RedisCache

    cache = RedisCache(broker, {"KEY_PREFIX": f"eprp-test-kept-{os.getpid()}"})
    try:
        assert cache.add("count", 0, 60) and not cache.add("count", 5, 60)
        assert [cache.incr("count") for _ in range(3)] == [1, 2, 3]
        cache.set("sid", "SM" + "0" * 32, timeout=60)
        assert cache.get("sid") == "SM" + "0" * 32 and cache.get("missing") is None
        cache.set("gone", 1, timeout=0)
        assert cache.get("gone") is None
    finally:
        cache.delete_many(["count", "sid", "gone"])
