"""Settings come only from the environment (12-factor).

With nothing set, eprp runs in its embedded shape: SQLite and Celery's filesystem
broker under var/, console SMS. EPRP_MODE=production makes every secret and URL
required; eprp/checks.py refuses to start without them.
"""

import os
from pathlib import Path

import dj_database_url

from eprp.mail import email_settings

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("EPRP_VAR_DIR", BASE_DIR / "var"))

EPRP_MODE = os.environ.get("EPRP_MODE", "embedded")
PRODUCTION = EPRP_MODE == "production"
DEBUG = os.environ.get("DJANGO_DEBUG", "0" if PRODUCTION else "1") == "1"


# Variables that should be whole numbers but are not: reported with the other
# configuration problems (eprp/checks.py) instead of a bare ValueError from int().
MALFORMED_SETTINGS: list[tuple[str, str]] = []


def _whole_number(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        MALFORMED_SETTINGS.append((name, f"expected a whole number >= {minimum}, got {raw!r}"))
        return default
    return value


def _embedded_secret(name: str) -> str:
    """A per-checkout random secret kept in var/, for the embedded shape only.

    Production never gets here: the system checks demand the variable itself.
    """
    from cryptography.fernet import Fernet

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / f"{name.lower()}.secret"
    if not path.exists():
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or ("" if PRODUCTION else _embedded_secret("SECRET_KEY"))
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY") or (
    "" if PRODUCTION else _embedded_secret("FIELD_ENCRYPTION_KEY")
)

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "" if PRODUCTION else "*").split(",") if h]
if PRODUCTION and ALLOWED_HOSTS:
    ALLOWED_HOSTS += ["127.0.0.1", "localhost"]  # container health checks call /health/ locally
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "" if PRODUCTION else "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "eprp.apps.EprpConfig",
    "diaries",
    "notifications",
    "analysis",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

if PRODUCTION:
    # gunicorn serves the collected static files itself; the dev server does it in the embedded shape.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

# Admin hardening: the admin site of diaries.staff (site scoping, no sponsors, 2FA
# when ADMIN_REQUIRE_2FA), TOTP devices (django-otp), lockout after failed logins
# (django-axes), sessions that end with the browser.
INSTALLED_APPS[INSTALLED_APPS.index("django.contrib.admin")] = "diaries.staff.apps.StaffAdminConfig"
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static", "axes"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "django_otp.middleware.OTPMiddleware")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = ["diaries.staff.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
ADMIN_REQUIRE_2FA = os.environ.get("ADMIN_REQUIRE_2FA", "1" if PRODUCTION else "0") == "1"
OTP_TOTP_ISSUER = "eprp"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.5  # hours
# Lock an account from one address: a lockout by username alone let anyone shut a
# coordinator out from anywhere. The address is the client's, read the way the patient
# sign-in limits read it (eprp/client_address.py: X-Forwarded-For only as NUM_PROXIES says).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "eprp.client_address.client_address"
AXES_RESET_ON_SUCCESS = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

ROOT_URLCONF = "eprp.urls"
WSGI_APPLICATION = "eprp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # Health checks: after a PostgreSQL restart a kept connection is dead; without the check
    # each gunicorn worker answered its next request (a patient's text) with a 500.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "eprp.sqlite3"}}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite, by default or named in DATABASE_URL. The web server and the worker share the
    # file: wait for locks rather than fail, and take the write lock when a transaction
    # starts (IMMEDIATE) so two writers queue instead of one failing with "database is
    # locked". WAL lets the web server read while the worker writes; NORMAL sync is safe
    # with WAL and spares an fsync on every commit. The eprp backend adds only what the
    # append-only triggers need (eprp/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "eprp.sqlite3"
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SESSION_COOKIE_AGE = _whole_number("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
DIARY_LINK_MAX_AGE = _whole_number("DIARY_LINK_MAX_AGE", 24 * 3600, minimum=60)  # seconds a web diary link opens
# Production runs behind a TLS-terminating proxy that sets X-Forwarded-Proto (and must
# overwrite it when a client sends one): plain HTTP is redirected, browsers are told to use
# HTTPS only (HSTS). /health/ stays reachable over HTTP for the container's health check.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_SSL_REDIRECT = PRODUCTION
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = _whole_number("SECURE_HSTS_SECONDS", 365 * 24 * 3600) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
# Preloading is the domain owner's decision (hstspreload.org), not the application's.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Celery: Redis in production; kombu's filesystem transport in the embedded shape,
# so the same task code runs with nothing installed.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "" if PRODUCTION else "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {
    "requeue-stuck-messages": {"task": "notifications.tasks.requeue_stuck_messages", "schedule": 120.0},
    # A worker killed during a send leaves its messages in "sending": failed after 15 minutes.
    "fail-stranded-messages": {"task": "notifications.tasks.fail_stranded_messages", "schedule": 300.0},
    # Scheduled prompts are rows, not ETA tasks: one tick a minute sends what is due; the
    # planner keeps two days ahead (every 6 h, so a missed run costs nothing); windows
    # close at 03:00 local somewhere every hour, hence the hourly missed-diary check.
    "dispatch-due-prompts": {"task": "notifications.tasks.dispatch_due_prompts", "schedule": 60.0},
    "plan-prompts": {"task": "notifications.tasks.plan_prompts", "schedule": 6 * 3600.0},
    "alert-missed-diaries": {"task": "notifications.tasks.alert_missed_diaries", "schedule": 3600.0},
    # Texts whose webhook failed (our outage, a deploy) are only in Twilio's message log.
    "reconcile-sms": {"task": "notifications.tasks.reconcile_sms", "schedule": 3600.0},
}
# Celery's Django fixup closes the DB connection after every task unless this is
# set: measured about 120 tasks/s without it against about 1,000/s with it.
CELERY_DB_REUSE_MAX = 1000
# Only for the workers `simulate_trial --workers` starts: run every task on the simulator's
# clock (eprp/simclock.py). A configuration problem in production.
SIMULATED_CLOCK = os.environ.get("EPRP_SIMULATED_CLOCK", "") == "1"

SMS_BACKEND = os.environ.get("SMS_BACKEND", "twilio" if PRODUCTION else "console")
# Messages of one send task handed to the transport at the same time (a thread each): a
# Twilio API call is 100-300 ms of waiting. Times the worker processes, this is the number
# of API calls in flight; above the account's concurrency limit Twilio answers 429 (retried).
SMS_SEND_THREADS = _whole_number("SMS_SEND_THREADS", 8, minimum=1)
# Push reminders to the app: `providers` sends through FCM (Android) and APNs (iOS), each configured by its own
# FCM_*/APNS_* variables (notifications/providers/fcm, apns); `console` prints them, `locmem` keeps them for tests.
PUSH_BACKEND = os.environ.get("PUSH_BACKEND", "providers" if PRODUCTION else "console")
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
# Embedded: a token generated once and kept in var/ like the secret key, so the signed
# webhook (and `manage.py sms_chat`) works without setting anything; production needs the real one.
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN") or ("" if PRODUCTION else _embedded_secret("TWILIO_AUTH_TOKEN"))
TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_FROM_NUMBER = os.environ.get("TWILIO_FROM_NUMBER", "")
# Only for tests and load benchmarks: send the SDK's API calls to a local fake Twilio server.
TWILIO_API_BASE = os.environ.get("TWILIO_API_BASE", "")
# Messages a second per sender (Messaging Service or number), enforced across every worker
# (notifications/providers/twilio/pacing.py): a US long code sends 1 segment/s; a 10DLC
# campaign 12 to 225 by trust score; a short code about 100. 0: no pacing here.
SMS_MAX_PER_SECOND = _whole_number("SMS_MAX_PER_SECOND", 1)
# Where the senders' counters live: the broker's Redis; in the embedded shape, in the process.
SMS_PACING_REDIS_URL = os.environ.get("SMS_PACING_REDIS_URL", "") or (
    CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else ""
)
# Reconciliation with Twilio's message log (hourly): how far back each run looks.
SMS_RECONCILE_HOURS = _whole_number("SMS_RECONCILE_HOURS", 3, minimum=1)

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "eprp@localhost")
# Who runs the study's SMS sender (not a site): e-mailed the operator alerts (carriers refuse the
# sender, sending paused). Comma-separated; without it those alerts are only in the admin.
OPERATOR_EMAILS = [a.strip() for a in os.environ.get("OPERATOR_EMAILS", "").split(",") if a.strip()]
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The SMTP server of alert e-mails: EMAIL_URL (smtp://user:password@host:587/?tls=1, or
# smtps:// for implicit TLS on 465) or the separate variables; EMAIL_TIMEOUT so a dead
# server fails a send instead of hanging a worker.
EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS, EMAIL_USE_SSL = (
    email_settings(os.environ, MALFORMED_SETTINGS)
)
EMAIL_TIMEOUT = _whole_number("EMAIL_TIMEOUT", 10, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Behind a reverse proxy, how many X-Forwarded-For hops to trust: the patient sign-in
    # limits count per client address, not per proxy.
    "NUM_PROXIES": _whole_number("NUM_PROXIES", 0) if os.environ.get("NUM_PROXIES", "").strip() else None,
}
SPECTACULAR_SETTINGS = {"TITLE": "eprp API", "VERSION": "1.0.0", "SERVE_INCLUDE_SCHEMA": False}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] = {
    "PatientItemKindEnum": ["nrs", "options"],
    "PatientReportKindEnum": ["cleared", "recurred", "spread"],
    "PatientEventKindEnum": ["cleared", "recurred", "stopped"],
}

# The default cache holds the sign-in limits' counters, so it must be one every process
# shares (a per-process cache let two gunicorn workers allow twice the limit): Redis in
# production (CACHE_URL, by default the broker's Redis; eprp/cache.py keeps one client per
# server), files in var/ in the embedded shape (the web server and the worker on one machine).
CACHE_URL = os.environ.get("CACHE_URL", "") or (CELERY_BROKER_URL if PRODUCTION else "")
if os.environ.get("CACHE_URL") and not CACHE_URL.startswith(("redis://", "rediss://")):
    MALFORMED_SETTINGS.append(("CACHE_URL", "expected a redis:// URL"))
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "eprp.cache.RedisCache", "LOCATION": CACHE_URL,
                          "KEY_PREFIX": "eprp-cache"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(VAR_DIR / "cache")}}

# Patient app sign-in (diaries/patient/app/auth.py). Limits are (requests, seconds) windows,
# counted in the default cache; behind a proxy set REST_FRAMEWORK["NUM_PROXIES"] so the
# per-address limits see the client, not the proxy.
PATIENT_SIGNIN_CODE_TTL = _whole_number("PATIENT_SIGNIN_CODE_TTL", 10 * 60, minimum=60)
PATIENT_SIGNIN_MAX_ATTEMPTS = 5
PATIENT_SIGNIN_PHONE_LIMITS = [(3, 15 * 60), (10, 24 * 3600)]
PATIENT_SIGNIN_IP_LIMITS = [(20, 15 * 60)]
PATIENT_TOKEN_IP_LIMITS = [(30, 15 * 60)]
PATIENT_SIGNIN_MIN_SECONDS = 0.1  # every code request takes at least this long, enrolled number or not
PATIENT_TOKEN_TTL = _whole_number("PATIENT_TOKEN_TTL", 30 * 24 * 3600, minimum=60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # The SDK logs every request at INFO, query strings included: keep phone numbers out of logs.
        "twilio.http_client": {"level": "WARNING"},
        # django-axes announces itself at INFO on every start (every manage.py command): noise
        # before a newcomer's first screen; its lockouts are WARNING and still show.
        "axes.apps": {"level": "WARNING"},
    },
}
if CELERY_BROKER_URL == "filesystem://":
    # kombu warns "No hostname was supplied. Reverting to default 'localhost'" at each
    # connection: the filesystem transport has no host to supply (a Redis URL always has one).
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}

# Refuse to load at all with a bad production configuration (gunicorn runs no system checks).
from eprp.checks import configuration_problems, describe  # noqa: E402

if PRODUCTION and (_problems := configuration_problems(globals())):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(describe(_problems))
