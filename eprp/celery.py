import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eprp.settings")

app = Celery("eprp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

if os.environ.get("EPRP_SIMULATED_CLOCK", "") == "1":
    # Workers started by `simulate_trial --workers` run every task on the simulator's
    # clock (eprp/simclock.py); settings refuse this variable in production.
    from eprp import simclock

    simclock.connect_worker()
