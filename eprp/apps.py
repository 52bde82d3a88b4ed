from django.apps import AppConfig


class EprpConfig(AppConfig):
    name = "eprp"
    verbose_name = "eprp"

    def ready(self):
        from . import checks  # noqa: F401  registers the configuration checks
