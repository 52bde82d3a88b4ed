"""The WSGI module gunicorn loads: the views imported and the start-up objects frozen before the first request."""

from tests.production.settings_probe import PRODUCTION, environment, run

PROBE = """
import gc, sys
before = gc.get_freeze_count()
import eprp.wsgi
print(before, gc.get_freeze_count(), "notifications.providers.twilio.webhooks" in sys.modules)
"""


def test_the_wsgi_module_loads_the_views_and_freezes_what_start_up_made():
    result = run(["-c", PROBE], environment(PRODUCTION))
    assert result.returncode == 0, result.stderr
    before, frozen, views_loaded = result.stdout.split()
    # The settings, the apps, the models and the views: far more than a bare interpreter's objects.
    assert int(before) == 0 and int(frozen) > 100_000
    assert views_loaded == "True"
