"""Load eprp's settings in a fresh process with a given environment and read some of them back."""

import json
import os
import subprocess
import sys

from django.conf import settings

from tests.test_configuration_checks import GOOD

# A complete production environment (nothing here is connected to), with a key random enough
# for `check --deploy`.
PRODUCTION = GOOD | {"SECRET_KEY": "kJ8#vQ2$mX9!pL4&nR7*wT1@zB6^cF3%hY5(dG0)sA-eU_iO+Wq7zN3rV8yH2jD5tK9gP4"}
# Variables of the test run itself that must not leak into the probed configuration.
_CLEARED = set(PRODUCTION) | {"EMAIL_URL", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_HOST_PASSWORD",
                              "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_TIMEOUT", "CACHE_URL", "NUM_PROXIES",
                              "DJANGO_DEBUG", "SMS_BACKEND"}


def environment(base: dict | None = None, **overrides) -> dict:
    """This process's environment without eprp's and Django's variables (some tests set them), plus these."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED and not k.startswith(("EPRP_", "DJANGO_"))}
    env |= (base or {}) | overrides
    return {k: v for k, v in env.items() if v is not None}


def run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=settings.BASE_DIR, env=env, capture_output=True,
                          text=True, timeout=120)


def read_settings(names: list[str], env: dict) -> dict:
    """The named settings as the process configured by `env` sees them (JSON-able values)."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}, default=str))"
    )
    result = run(["-c", code], env | {"DJANGO_SETTINGS_MODULE": "eprp.settings"})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
