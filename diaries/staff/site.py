"""The admin site of the study team: who may enter it, and how they log in.

settings.INSTALLED_APPS names `StaffAdminConfig` (diaries/staff/apps.py) instead of
django.contrib.admin, so `admin.site` is a `StaffAdminSite` everywhere (urls.py and
every registration).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.utils import timezone

from diaries import roles, selectors
from diaries.staff.login import StaffLoginForm, StaffOTPLoginForm
from notifications.models import OutboundMessage, OutboundStatus
from notifications.providers import get_transport

# "Texts failing" on the home page: messages that failed or were not delivered in the last day.
FAILING_WINDOW = timedelta(hours=24)


def failing_texts(site, *, now) -> int:
    """Participants of the site with a text that failed or was not delivered in the last 24 hours."""
    return (OutboundMessage.objects.filter(
        participant__site=site, status__in=[OutboundStatus.FAILED, OutboundStatus.UNDELIVERED],
        created_at__gte=now - FAILING_WINDOW,
    ).values("participant").distinct().count())


class StaffAdminSite(admin.AdminSite):
    site_header = "eprp: study administration"
    site_title = "eprp admin"
    index_title = "Participants, diaries and alerts"

    def has_permission(self, request):
        """Active staff, never a sponsor, and with ADMIN_REQUIRE_2FA a session verified by an OTP device."""
        user = request.user
        if not (user.is_active and user.is_staff) or roles.is_sponsor(user):
            return False
        if settings.ADMIN_REQUIRE_2FA:
            return user.is_verified()
        return True

    def index(self, request, extra_context=None):
        """The home page starts with what a coordinator looks for: per site, today's counts, each a link."""
        sites = roles.scoped_sites(request.user).order_by("number") if request.user.has_perm(
            "diaries.view_participant") else []
        now = timezone.now()
        today = [(selectors.site_today(site, now=now), failing_texts(site, now=now)) for site in sites]
        return super().index(request, {**(extra_context or {}), "site_today": today,
                                       "sending_paused": get_transport().sending_paused(),
                                       "failing_since": (now - FAILING_WINDOW).isoformat(timespec="seconds")})

    @property
    def login_form(self):
        return StaffOTPLoginForm if settings.ADMIN_REQUIRE_2FA else StaffLoginForm

    @property
    def login_template(self):
        return "otp/admin111/login.html" if settings.ADMIN_REQUIRE_2FA else None
