from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DiariesConfig(AppConfig):
    name = "diaries"
    verbose_name = "Diaries"

    def ready(self):
        from . import alert_email, alerts

        if alert_email.email_site_staff_later not in alerts.after_alert_hooks:
            alerts.after_alert_hooks.append(alert_email.email_site_staff_later)
        post_migrate.connect(_setup_roles, sender=self, dispatch_uid="diaries.setup_roles")


def _setup_roles(app_config, using="default", verbosity=1, **kwargs):
    """Keep the role groups in step with diaries.roles after every migrate."""
    from django.apps import apps
    from django.contrib.auth.management import create_permissions

    from . import roles

    # Permissions of later apps (notifications) are created after this signal otherwise.
    for config in apps.get_app_configs():
        create_permissions(config, verbosity=0, using=using)
    roles.setup_roles()
