"""SQLite named through DATABASE_URL waits for locks, queues writers and uses WAL, like the embedded default."""

import json
import subprocess
import sys

from django.conf import settings

from tests.production.settings_probe import environment, run

PROBE = (
    "import json, django; django.setup(); from django.conf import settings; from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('PRAGMA journal_mode'); mode = cursor.fetchone()[0]; "
    "cursor.execute('PRAGMA busy_timeout'); "
    "print(json.dumps({'options': settings.DATABASES['default']['OPTIONS'], 'journal_mode': mode, "
    "'busy_timeout': cursor.fetchone()[0], 'engine': settings.DATABASES['default']['ENGINE']}))"
)


def probe(env):
    result = run(["-c", PROBE], env | {"DJANGO_SETTINGS_MODULE": "eprp.settings"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_sqlite_via_database_url_gets_the_embedded_defaults(tmp_path):
    default = probe(environment(EPRP_VAR_DIR=str(tmp_path / "default"), DATABASE_URL=None))
    named = probe(environment(EPRP_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/named.sqlite3"))
    for got in (default, named):
        assert got["journal_mode"] == "wal"
        assert got["busy_timeout"] == 20000
        assert got["options"]["transaction_mode"] == "IMMEDIATE"
        assert got["engine"] == "eprp.sqlite3"  # the backend whose flush respects the append-only triggers


def test_a_reader_that_then_writes_waits_instead_of_failing(tmp_path):
    """Two quick posts: one transaction reads, another writes meanwhile, then the first writes.

    With deferred transactions the first one's write fails at once with "database is
    locked" (the two lock each other out, or in WAL its read snapshot is stale); with
    IMMEDIATE the second waits for the first (busy timeout) and both commit.
    """
    env = environment(EPRP_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path}/named.sqlite3",
                      DJANGO_SETTINGS_MODULE="eprp.settings")
    setup = (f"import django, os, time; django.setup(); from django.db import connection, transaction; "
             f"flag = lambda name: os.path.join({str(tmp_path)!r}, name)\n")
    created = run(["-c", setup + "connection.cursor().execute('CREATE TABLE t (x int)')"], env)
    assert created.returncode == 0, created.stderr
    reader = setup + (
        "with transaction.atomic():\n"
        "    connection.cursor().execute('SELECT count(*) FROM t').fetchone()\n"
        "    open(flag('reading'), 'w').close()\n"
        "    deadline = time.monotonic() + 2\n"  # the writer commits meanwhile, unless it must wait for us
        "    while not os.path.exists(flag('written')) and time.monotonic() < deadline: time.sleep(0.05)\n"
        "    connection.cursor().execute('INSERT INTO t VALUES (1)')\n")
    writer = setup + (
        "while not os.path.exists(flag('reading')): time.sleep(0.05)\n"
        "with transaction.atomic():\n"
        "    connection.cursor().execute('INSERT INTO t VALUES (2)')\n"
        "open(flag('written'), 'w').close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for code in (reader, writer)]
    results = [(proc.communicate(timeout=120)[1], proc.returncode) for proc in procs]
    for errors, returncode in results:
        assert returncode == 0, errors  # not "database is locked"
