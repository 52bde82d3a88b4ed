import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eprp.settings")
application = get_wsgi_application()

# Load what every request needs now (the URL configuration imports the views), then move
# these start-up objects out of the garbage collector's reach: a full collection walked
# about 280,000 of them, 80-110 ms of CPU during which all of a worker's threads wait.
# That showed as the slow webhooks of the evening peak, several at one instant.
get_resolver().url_patterns  # noqa: B018 (imports the views)
gc.freeze()
