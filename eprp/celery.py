import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eprp.settings")

app = Celery("eprp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if os.environ.get("EPRP_SIMULATED_CLOCK", "") == "1":
    # Workers started by `simulate_trial --workers` run every task on the simulator's
    # clock (eprp/simclock.py); settings refuse this variable in production.
    from eprp import simclock

    simclock.connect_worker(app)


@worker_process_init.connect
def load_url_modules(**kwargs):
    # Every send builds a status callback URL with reverse(), and the first reverse() in a
    # process imports every URL module (the analysis API brings pandas and statsmodels):
    # about 4 s that the first messages after a worker start would otherwise wait for.
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the import is the point
