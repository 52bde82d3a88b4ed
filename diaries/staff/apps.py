"""The admin app of the study team, in place of django.contrib.admin.

Loaded while the app registry is filled, so no model is imported here: the site class is
named by its path, and the staff pages register once every app is ready.
"""

from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    default_site = "diaries.staff.site.StaffAdminSite"

    def ready(self):
        super().ready()  # every app's admin.py (notifications, analysis)
        # The diaries pages live with the rest of the staff console: registered here, once every model is loaded.
        from diaries.staff import admin, participant_admin  # noqa: F401
