"""Small pieces of the staff pages: a link to an object's page, a page about one object, a percentage."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html


def link(obj, text=None):
    if obj is None:
        return "-"
    url = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def object_page(model_admin, view):
    """An admin page about one object: `view(model_admin, request, object_id)` behind the admin login."""
    return model_admin.admin_site.admin_view(lambda request, object_id: view(model_admin, request, object_id))


def pct(value) -> str:
    return "-" if value is None else f"{value:g}%"


def zone(name: str) -> ZoneInfo:
    """A participant's zone, for times shown in the participant's local time."""
    return ZoneInfo(name)


def history(model_admin, request, object_id, url):
    """An object's "History" is its audit trail (`url(obj)`), not Django's empty change log; same permission."""
    obj = model_admin.get_object(request, object_id)
    if not model_admin.has_view_or_change_permission(request, obj):
        raise PermissionDenied
    return HttpResponseRedirect(url(obj))


def audit_list(obj) -> str:
    """The audit list filtered to the events about one object."""
    url = reverse("admin:diaries_auditevent_changelist")
    return f"{url}?object_type={type(obj).__name__}&object_id={obj.pk}"
