"""Site scoping for every admin page, once: a user reads only the rows of their sites.

`SiteScopedAdmin` filters the queryset every list, detail, history, search, filter,
autocomplete and action starts from, turns an object outside the scope into a 404
(Django would otherwise redirect with "perhaps it was deleted", telling that it exists),
limits foreign-key choices, and makes relation filters list only values in scope.
Monitors and superusers (`diaries.view_all_sites`) see every site; rows that belong to
no site (an audit event of the study, a text from an unknown number) only they see.

Nothing here grants a change: the admins built on it are read-only unless they say so,
and diary records and audit events are never editable or deletable by anyone.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import FieldDoesNotExist
from django.http import Http404

from diaries import roles
from diaries.models import Participant, Site, Study


def scope(queryset, user, site_path: str):
    """The rows of `queryset` whose site (reached by `site_path`, "" for Site itself) the user may read."""
    if roles.sees_all_sites(user):
        return queryset
    sites = roles.scoped_sites(user)
    if not site_path:
        return queryset.filter(pk__in=sites.values("pk"))
    # A subquery on the primary key rather than a join, so a row never appears twice.
    inside = queryset.model._base_manager.filter(**{f"{site_path}__in": sites.values("pk")}).values("pk")
    return queryset.filter(pk__in=inside)


def scoped_choices(model, user):
    """Choices for a foreign key to Site, Study or Participant: those in the user's scope."""
    if model is Site:
        return scope(Site.objects.all(), user, "")
    if model is Study:
        return scope(Study.objects.all(), user, "sites")
    if model is Participant:
        return scope(Participant.objects.all(), user, "site")
    return None


class ScopedMixin:
    """Shared by model admins and inlines: the queryset and form choices in scope."""

    site_path: str = "site"

    def get_queryset(self, request):
        return scope(super().get_queryset(request), request.user, self.site_path)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        choices = scoped_choices(db_field.related_model, request.user)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        choices = scoped_choices(db_field.related_model, request.user)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ReadOnlyMixin:
    """No add, change or delete through the generic admin forms: writes go through the use cases."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# What the list filters Django ships put after a declared field's path in the query string.
_FILTER_SUFFIXES = {"exact", "isnull", "id__exact", "pk__exact", "in", "gte", "gt", "lte", "lt",
                    "year", "month", "day"}


class SiteScopedAdmin(ScopedMixin, ReadOnlyMixin, admin.ModelAdmin):
    # Query-string lookups a page links to that are no list filter (e.g. an object's history).
    declared_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup, value, request):
        """Only the changelist's declared filters: never a hidden field (`?config_toml__icontains=`,
        `?randomization__isnull=`). Django allows any lookup on a local field; a refused one is a 400."""
        declared = set(self.declared_lookups)
        for entry in self.get_list_filter(request):
            if isinstance(entry, (list, tuple)):
                entry = entry[0]
            if isinstance(entry, str):
                declared.add(entry)
            elif getattr(entry, "parameter_name", None):  # a SimpleListFilter names its own parameter
                if lookup == entry.parameter_name:
                    return True
        if self.date_hierarchy:
            declared.add(self.date_hierarchy)
        for path in declared:
            if lookup == path or (lookup.startswith(path + "__") and lookup[len(path) + 2:] in _FILTER_SUFFIXES):
                return True
        return False

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id.")
        return obj

    def get_list_filter(self, request):
        """Relation filters list only what the user's queryset holds (never another site's)."""
        scoped = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and _is_relation(self.model, entry):
                entry = (entry, admin.RelatedOnlyFieldListFilter)
            scoped.append(entry)
        return scoped

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class ScopedInline(ScopedMixin, ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True


def _is_relation(model, path: str) -> bool:
    try:
        return get_fields_from_path(model, path)[-1].is_relation
    except (FieldDoesNotExist, admin.utils.NotRelationField):
        return False
