"""Sponsor and statistician accounts of the API: created with their role, a token issued and revoked.

An API account has no password (it signs in with its token only) and no admin access.
Every issue and revocation is audit-logged, never the token itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from diaries import audit, roles

ROLES = {"sponsor": roles.SPONSOR, "statistician": roles.STATISTICIAN}


class AccountRefused(ValueError):
    pass


@dataclass(frozen=True)
class IssuedToken:
    username: str
    role: str
    key: str
    created: bool  # the account was created now


@transaction.atomic
def create_api_account(*, username: str, role: str, actor) -> IssuedToken:
    """Create a sponsor or (unblinded) statistician account and issue its first token."""
    if role not in ROLES:
        raise AccountRefused(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise AccountRefused(f"{username!r} already exists; issue a new token with `api_account issue {username}`")
    roles.setup_roles()
    user = user_model.objects.create_user(username=username)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=ROLES[role]))
    audit.log(actor=actor, action="api_account.create", obj=user, after={"username": username, "role": role})
    return IssuedToken(username, role, _new_token(user, actor), created=True)


@transaction.atomic
def issue_token(*, username: str, actor) -> IssuedToken:
    """A new token for an API account; the previous one stops working at once."""
    user = _api_user(username)
    return IssuedToken(username, _role_of(user), _new_token(user, actor), created=False)


@transaction.atomic
def revoke_token(*, username: str, actor) -> bool:
    """Revoke the account's token; False when it had none."""
    user = _api_user(username)
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        audit.log(actor=actor, action="api_token.revoke", obj=user, after={"username": username})
    return bool(deleted)


def _new_token(user, actor) -> str:
    Token.objects.filter(user=user).delete()
    token = Token.objects.create(user=user)
    audit.log(actor=actor, action="api_token.issue", obj=user, after={"username": user.get_username()})
    return token.key


def _api_user(username: str):
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise AccountRefused(f"no account {username!r}")
    _role_of(user)
    return user


def _role_of(user) -> str:
    names = set(user.groups.values_list("name", flat=True))
    for role, group in ROLES.items():
        if group in names:
            return role
    raise AccountRefused(f"{user.get_username()!r} is not a sponsor or statistician account")
