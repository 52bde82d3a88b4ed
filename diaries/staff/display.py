"""Small pieces of the staff pages: a link to an object's page, a page about one object, a percentage."""

from __future__ import annotations

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
