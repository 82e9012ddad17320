"""One settings module for every environment, driven by environment variables.

With no environment at all the project runs in its embedded mode: a SQLite file
under ``var/`` and a Redis that ``manage.py up`` starts itself. Production
differs only by variables, never by code paths (see README, "Configuration").
"""

from datetime import timedelta
from pathlib import Path

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# ModelAdmin[Connection], ModelForm[Connection], TextField[...]: the generics mypy checks
# (connectors/) subscriptable at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CLARITY_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEV_SECRET_KEY = "django-insecure-clarity-connect-development-only"  # noqa: S105

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Keys that encrypt credentials at rest: "id=fernet-key" pairs, newest first.
# They are keys of their own, never derived from SECRET_KEY.
CLARITY_ENCRYPTION_KEYS = env.list("CLARITY_ENCRYPTION_KEYS", default=[])

if not DEBUG:
    if SECRET_KEY == DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "DEBUG is off but SECRET_KEY is the development default. "
            "Set SECRET_KEY to a long random value."
        )
    if not CLARITY_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "DEBUG is off but CLARITY_ENCRYPTION_KEYS is not set. Set it to one or more "
            "'id=key' pairs, newest first; make a key with `python manage.py "
            "generate_encryption_key`."
        )

INSTALLED_APPS = [
    "clarity.apps.ClarityAdminConfig",  # django.contrib.admin, branded, with two-factor sign-in
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_rq",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc served from here, not a CDN
    "import_export",
    "simple_history",
    "connectors",
    "mappings",
    "clarity",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "clarity.accounts.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clarity.urls"
WSGI_APPLICATION = "clarity.wsgi.application"

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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clarity.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server and the worker read while the other writes.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000;"
    )
    DATABASES["default"]["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in: django-axes locks a username out, from every address, after
# AXES_FAILURE_LIMIT wrong passwords (counted across addresses, so changing
# address does not help a guesser), for AXES_COOLOFF_MINUTES (an administrator
# can unlock sooner: Axes → Access attempts, or `manage.py axes_reset_username`).
# Not locked by address alone: colleagues behind one office proxy share it. One
# client (address and browser) guessing across many usernames is locked too.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = ["username", ["ip_address", "user_agent"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "clarity.accounts.lockout_response"
# Staff confirm each sign-in with a code from an authenticator app (TOTP), set
# up on their first sign-in. On unless DEBUG is on, so the demo logins just work.
CLARITY_REQUIRE_2FA = env.bool("CLARITY_REQUIRE_2FA", default=not DEBUG)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Clarity Connect")

if env.bool("CLARITY_FAST_PASSWORD_HASHER", default=False):
    # Tests and benchmarks create many users; PBKDF2 would dominate their time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
# Date-times on every page name their zone ("6 Dec 2026, 09:50 UTC"): see clarity/formats.
FORMAT_MODULE_PATH = ["clarity.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL,
        "DEFAULT_TIMEOUT": 600,
        "SERIALIZER": "rq.serializers.JSONSerializer",
    },
}
CLARITY_SWEEP_SECONDS = env.int("CLARITY_SWEEP_SECONDS", default=30)
# How long a worker's hold on a flow (renewed after every batch) and on the
# records it is sending lasts; when the worker dies, the sweeper hands its work
# on once they expire. Tests use seconds; production keeps minutes.
CLARITY_FLOW_LEASE_SECONDS = env.float("CLARITY_FLOW_LEASE_SECONDS", default=120.0)
CLARITY_CLAIM_SECONDS = env.float("CLARITY_CLAIM_SECONDS", default=300.0)
# A queued run whose job has not started after this long is enqueued again.
CLARITY_STALE_QUEUED_SECONDS = env.float("CLARITY_STALE_QUEUED_SECONDS", default=120.0)
# First retry delay of a transient failure; doubles per attempt, with jitter.
CLARITY_RETRY_BACKOFF_SECONDS = env.float("CLARITY_RETRY_BACKOFF_SECONDS", default=30.0)
RQ = {"COMMIT_MODE": "on_db_commit", "WORKER_CLASS": "clarity.worker.JSONWorker"}
RQ_SHOW_ADMIN_LINK = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Bounded JSON: deep nesting, NaN/Infinity, huge numbers and NUL are a 400, not a 500.
    "DEFAULT_PARSER_CLASSES": [
        "clarity.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clarity Connect API",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Runs, ledger records and webhook events each have a "status" of their own.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "clarity.models.runs.RunStatus",
        "RecordStatusEnum": "clarity.models.ledger.RecordStatus",
        "WebhookStatusEnum": "clarity.models.webhooks.WebhookStatus",
    },
}

# Alerts go out by e-mail: EMAIL_URL is e.g. smtp+tls://user:password@mail.example.com:587.
# In development they are printed on the console instead of sent.
vars().update(
    env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Clarity Connect <clarity@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# An import both adds and changes rows; the import admins also check "add" (see
# mappings.admin.ConfirmedImportMixin.has_import_permission).
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# Secrets posted to the admin, held in local variables or opened by this process
# never reach an error page or an error e-mail (see clarity/reporting.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "clarity.reporting.SecretSafeExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "clarity.reporting.SecretSafeExceptionReporter"

# No secret reaches a log at any level: every record of every logger (urllib3,
# requests-oauthlib included) is redacted as it is made (connectors/redaction.py);
# the handlers' filter catches records made elsewhere.
LOGGING_CONFIG = "connectors.redaction.configure_logging"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "connectors.redaction.RedactSecrets"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own console handler on "django" would print each django.* record
    # (a 403 with its traceback) a second time beside root's.
    "loggers": {"django": {"handlers": [], "level": "INFO"}},
}

# HTTPS: `manage.py check --deploy` passes with DEBUG=0, SECURE_HSTS_SECONDS and
# SECURE_SSL_REDIRECT=1 set. Behind a proxy that ends TLS, set
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https (the header it sets).
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER is a header and its HTTPS value, e.g. "
            "HTTP_X_FORWARDED_PROTO,https."
        )
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header)
X_FRAME_OPTIONS = "DENY"
