"""Who may use the sponsor API and who may see arms (blinded data): the permission checks of analysis."""

from __future__ import annotations

# Arms are blinded data: only these users may see them (roles.STATISTICIAN holds it).
ARMS_PERMISSION = "diaries.view_randomization"
# The sponsor role's permission: pull the transfer files through the API.
EXPORT_PERMISSION = "diaries.export_transfer"


def can_use_sponsor_api(user) -> bool:
    """Sponsors and unblinded statisticians (and superusers); never site staff or monitors."""
    return bool(user and user.is_active and (user.has_perm(EXPORT_PERMISSION) or user.has_perm(ARMS_PERMISSION)))


def can_see_arms(user) -> bool:
    return bool(user and user.is_active and user.has_perm(ARMS_PERMISSION))
