"""The roles of the study team as Django groups, and the site scope of every admin read.

A role is a group with an exact set of permissions; `setup_roles` (run after every
migrate and by `manage.py setup_roles`) makes each group hold exactly its list, so a
permission removed here is removed in the database too.

- Site staff: their own sites only (Site.staff); enroll, record Day 1 and visits,
  pause/resume SMS, send diary links, correct diary values with a reason, handle alerts.
- Monitor (data manager / CRA): every site, read-only.
- Sponsor: no admin access at all (the admin site refuses the group); API exports only.
- Unblinded statistician: imports randomization and may see arms; nothing else.

Arms are blinded data: no role but the statistician gets `view_randomization`.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from . import audit
from .models import Site

SITE_STAFF = "Site staff"
MONITOR = "Monitor"
SPONSOR = "Sponsor"
STATISTICIAN = "Unblinded statistician"

# Permissions that no model declares: created here on the model they concern.
CUSTOM_PERMISSIONS = {
    ("diaries", "site", "view_all_sites"): "Can see every site's data (monitors)",
    ("diaries", "diaryrecord", "correct_diaryrecord"): "Can correct a diary value with a reason",
    ("diaries", "randomization", "import_randomization"): "Can import the randomization (unblinded)",
    ("diaries", "study", "export_transfer"): "Can download the sponsor transfer files",
}

_READ = [
    "diaries.view_study",
    "diaries.view_site",
    "diaries.view_participant",
    "diaries.view_visit",
    "diaries.view_diaryrecord",
    "diaries.view_treatmentevent",
    "diaries.view_alert",
    "diaries.view_auditevent",
    "notifications.view_inboundmessage",
    "notifications.view_outboundmessage",
    "notifications.view_scheduledprompt",
    "diaries.view_patienttoken",
    "diaries.view_pushdevice",
]

ROLES: dict[str, list[str]] = {
    SITE_STAFF: [
        *_READ,
        "diaries.add_participant",  # enroll
        "diaries.change_participant",  # Day 1, SMS consent, diary links and reminders
        "diaries.add_visit",
        "diaries.change_visit",
        "diaries.correct_diaryrecord",
        "diaries.change_alert",  # acknowledge and close
    ],
    MONITOR: [*_READ, "diaries.view_all_sites"],
    SPONSOR: ["diaries.export_transfer"],
    STATISTICIAN: ["diaries.view_all_sites", "diaries.view_randomization", "diaries.import_randomization"],
}


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@transaction.atomic
def setup_roles() -> list[str]:
    """Create the custom permissions and make every role group hold exactly its permissions.

    Returns the names of the groups that were created or changed (audit-logged).
    """
    for (app_label, model, codename), name in CUSTOM_PERMISSIONS.items():
        ct = ContentType.objects.get_by_natural_key(app_label, model)
        Permission.objects.get_or_create(content_type=ct, codename=codename, defaults={"name": name})
    changed = []
    for group_name, dotted in ROLES.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        before = sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all())
        after = sorted(dotted)
        if before != after:
            group.permissions.set([_permission(d) for d in dotted])
            audit.log(actor="system:setup_roles", action="role.permissions", obj=f"Group:{group_name}",
                      before={"permissions": before}, after={"permissions": after})
            changed.append(group_name)
    return changed


def sees_all_sites(user) -> bool:
    return user.is_active and (user.is_superuser or user.has_perm("diaries.view_all_sites"))


def is_sponsor(user) -> bool:
    """Sponsors never reach the admin, even if someone ticked `is_staff` on their account."""
    return not user.is_superuser and user.groups.filter(name=SPONSOR).exists()


def scoped_sites(user):
    """The sites whose data this user may read: all for monitors, their own for site staff."""
    if not user.is_authenticated:
        return Site.objects.none()
    if sees_all_sites(user):
        return Site.objects.all()
    return Site.objects.filter(staff=user)
