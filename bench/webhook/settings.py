"""The app's settings plus the webhook floor's URL: used only by bench/webhook/run.py."""

from eprp.settings import *  # noqa: F403

ROOT_URLCONF = "bench.webhook.urls"
