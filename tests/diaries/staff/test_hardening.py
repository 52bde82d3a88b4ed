"""Admin login: lockout after repeated failures (axes), TOTP when ADMIN_REQUIRE_2FA, sessions, roles."""

import time

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from diaries import roles
from tests.diaries.staff.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


def login(client, username, password, **extra):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/", **extra})


def test_the_account_is_locked_after_five_failures(client, coordinator):
    for _ in range(4):
        assert login(client, "coordinator", "wrong-password").status_code == 200  # the form again
    assert login(client, "coordinator", "wrong-password").status_code == 429  # the fifth locks
    # Locked: even the right password is refused, and nobody is logged in.
    response = login(client, "coordinator", PASSWORD)
    assert response.status_code == 429
    assert client.get("/admin/").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, coordinator):
    for _ in range(4):
        login(client, "coordinator", "wrong-password")
    assert login(client, "coordinator", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "coordinator", "wrong-password").status_code == 200


def test_the_lockout_is_per_account(client, coordinator, monitor):
    for _ in range(5):
        login(client, "coordinator", "wrong-password")
    assert login(client, "monitor", PASSWORD).status_code == 302


def totp_token(device):
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return str(totp.token()).zfill(device.digits)


def test_with_2fa_required_a_password_alone_is_not_enough(client, settings, coordinator):
    settings.ADMIN_REQUIRE_2FA = True
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # django-otp slows retries after a wrong token; not under test here
    device = TOTPDevice.objects.create(user=coordinator, name="phone", confirmed=True)
    response = login(client, "coordinator", PASSWORD)
    assert response.status_code == 200 and "otp_token" in response.content.decode()
    assert client.get("/admin/").status_code == 302

    wrong = "000000" if totp_token(device) != "000000" else "111111"
    response = login(client, "coordinator", PASSWORD, otp_device=device.persistent_id, otp_token=wrong)
    assert response.status_code == 200
    response = login(client, "coordinator", PASSWORD, otp_device=device.persistent_id, otp_token=totp_token(device))
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_with_2fa_required_a_session_without_otp_is_refused(client, settings, coordinator):
    settings.ADMIN_REQUIRE_2FA = True
    client.force_login(coordinator)  # logged in, but not verified by a device
    assert client.get("/admin/diaries/participant/").status_code == 302


def test_without_2fa_the_embedded_admin_takes_a_password(client, settings, coordinator):
    settings.ADMIN_REQUIRE_2FA = False
    assert login(client, "coordinator", PASSWORD).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_2fa_is_on_by_default_in_production_and_off_embedded():
    import os
    import subprocess
    import sys

    code = "from django.conf import settings; print(settings.ADMIN_REQUIRE_2FA)"
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_REQUIRE_2FA", "EPRP_MODE")}
    env["DJANGO_SETTINGS_MODULE"] = "eprp.settings"
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], env=env,
                         capture_output=True, text=True, cwd=django_settings.BASE_DIR, check=True)
    assert out.stdout.strip().endswith("False")
    env["ADMIN_REQUIRE_2FA"] = "1"
    out = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {code}"], env=env,
                         capture_output=True, text=True, cwd=django_settings.BASE_DIR, check=True)
    assert out.stdout.strip().endswith("True")


def test_sessions_end_with_the_browser_and_expire():
    assert django_settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True
    assert django_settings.SESSION_COOKIE_AGE <= 8 * 3600


def test_roles_hold_exactly_their_permissions_and_setup_is_idempotent():
    assert roles.setup_roles() == []
    perms = {g.name: {f"{p.content_type.app_label}.{p.codename}" for p in g.permissions.all()}
             for g in Group.objects.all()}
    assert perms[roles.MONITOR] >= {"diaries.view_participant", "diaries.view_all_sites"}
    assert not any(p.split(".")[1].startswith(("add_", "change_", "delete_", "correct_")) for p in perms[roles.MONITOR])
    assert "diaries.view_randomization" not in perms[roles.MONITOR] | perms[roles.SITE_STAFF]
    assert "diaries.view_all_sites" not in perms[roles.SITE_STAFF]
    assert {"diaries.correct_diaryrecord", "diaries.add_participant", "diaries.change_alert"} <= perms[roles.SITE_STAFF]
    assert perms[roles.STATISTICIAN] == {"diaries.view_all_sites", "diaries.view_randomization",
                                         "diaries.import_randomization"}
    assert perms[roles.SPONSOR] == {"diaries.export_transfer"}
    # A permission granted by hand is taken back by the next setup, and the change is audited.
    from django.contrib.auth.models import Permission

    Group.objects.get(name=roles.MONITOR).permissions.add(Permission.objects.get(codename="change_alert"))
    assert roles.setup_roles() == [roles.MONITOR]
    from diaries.models import AuditEvent

    assert AuditEvent.objects.filter(action="role.permissions", object_id=roles.MONITOR).exists()


def test_the_setup_roles_command(capsys):
    from django.core.management import call_command

    call_command("setup_roles")
    assert "Site staff: unchanged" in capsys.readouterr().out
