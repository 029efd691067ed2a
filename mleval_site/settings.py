"""mleval settings, read from the environment (django-environ).

Production-safe by default: DEBUG is off unless DEBUG=true, and SECRET_KEY is then required.
`make run` switches on development mode, and its first run writes a git-ignored `.env`
(DEBUG=true, a generated SECRET_KEY; mleval_site/dotenv.py) read here, so `manage.py` commands
work in that checkout; variables set in the environment win over the file. With no
DATABASE_URL an embedded PostgreSQL is started.
"""

import importlib.util
import re
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# The checkout's local settings (written by the first `make run`: DEBUG=true and a generated
# SECRET_KEY), so `manage.py` works there without exports; the environment wins over the file.
_ENV_FILE = Path(env.str("MLEVAL_ENV_FILE", default="") or BASE_DIR / ".env")
if _ENV_FILE.is_file():
    environ.Env.read_env(_ENV_FILE, overwrite=False)


def _read(name: str, cast, default):
    """Read one variable, stopping start-up with one clear message when its value is bad."""
    try:
        return env.get_value(name, cast=cast, default=default)
    except (ValueError, ImproperlyConfigured) as error:
        raise ImproperlyConfigured(
            f"Environment variable {name} has a bad value: {error}"
        ) from None


def strict_bool(value) -> bool:
    """Unlike a plain bool cast, `DEBUG=perhaps` is an error rather than a silent False."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


DEBUG = _read("DEBUG", strict_bool, False)
TESTING = _read("MLEVAL_TESTING", strict_bool, False)

SECRET_KEY = _read("SECRET_KEY", str, "")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set SECRET_KEY to a long random string "
            "(or DEBUG=true for development)."
        )
    SECRET_KEY = "django-insecure-development-only-key-never-used-in-production"

ALLOWED_HOSTS = _read("ALLOWED_HOSTS", list, ["127.0.0.1", "localhost"] if DEBUG else [])
if DEBUG or TESTING:
    ALLOWED_HOSTS = [*ALLOWED_HOSTS, "127.0.0.1", "localhost", "testserver"]
CSRF_TRUSTED_ORIGINS = _read("CSRF_TRUSTED_ORIGINS", list, [])

# HTTPS: on by default in production; behind a TLS-terminating proxy set SECURE_PROXY_SSL_HEADER
# (e.g. "HTTP_X_FORWARDED_PROTO,https"), or switch redirect/HSTS off where the proxy does them.
# MLEVAL_HTTPS=false serves plain HTTP (`make serve` on one machine without a TLS proxy).
PRODUCTION = not (DEBUG or TESTING)
HTTPS = _read("MLEVAL_HTTPS", strict_bool, PRODUCTION)
SECURE_SSL_REDIRECT = _read("SECURE_SSL_REDIRECT", strict_bool, HTTPS)
SECURE_HSTS_SECONDS = _read("SECURE_HSTS_SECONDS", int, 31_536_000 if HTTPS else 0)
# Both cover mleval's own host name and the names below it (mleval.example.com, not example.com);
# preloading still needs a deliberate submission to the browsers' list.
SECURE_HSTS_INCLUDE_SUBDOMAINS = _read("SECURE_HSTS_INCLUDE_SUBDOMAINS", strict_bool, HTTPS)
SECURE_HSTS_PRELOAD = _read("SECURE_HSTS_PRELOAD", strict_bool, HTTPS)
if proxy_header := _read("SECURE_PROXY_SSL_HEADER", list, []):
    SECURE_PROXY_SSL_HEADER = tuple(proxy_header)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SESSION_COOKIE_HTTPONLY = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content Security Policy (Django's own middleware): no inline script or style anywhere, only
# files from this site, and `nonce="{{ csp_nonce }}"` for the few tags that must be inline.
# Images and audio may come from https: because a case's input can show one by its URL.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:", "https:"],
    "media-src": [CSP.SELF, "data:", "https:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django_filters",
    # Before django_tasks_db: its db_worker command (with a heartbeat) replaces the plain one.
    "system",
    "django_htmx",
    "django_tasks_db",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "accounts",
    "jobs",
    "cases",
    "runs",
    "evaluations",
    "versions",
    "grading",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "mleval_site.db.ActingUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "mleval_site.observability.RequestLogMiddleware",
    "mleval_site.middleware.DeletedMeanwhileMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mleval_site.urls"
WSGI_APPLICATION = "mleval_site.wsgi.application"
ASGI_APPLICATION = "mleval_site.asgi.application"

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
                "django.template.context_processors.csp",
            ],
        },
    },
]

# Database: DATABASE_URL, or the embedded server under .mleval/pgdata.
if env.str("DATABASE_URL", default=""):
    try:
        DATABASES = {"default": env.db_url("DATABASE_URL")}
    except (ValueError, ImproperlyConfigured) as error:
        raise ImproperlyConfigured(f"DATABASE_URL has a bad value: {error}") from None
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point to PostgreSQL (postgres://...).")
    DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
else:
    from mleval_site import embedded_db

    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "postgres",
            "USER": "postgres",
            "HOST": str(embedded_db.start()),
        }
    }
# An optional read replica: report queries read from it (mleval_site.db_router).
if env.str("DATABASE_REPLICA_URL", default=""):
    try:
        DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL")
    except (ValueError, ImproperlyConfigured) as error:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL has a bad value: {error}") from None
    DATABASES["replica"]["HOST"] = unquote(DATABASES["replica"]["HOST"])
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["mleval_site.db_router.ReplicaRouter"]
for _database in DATABASES.values():
    _database["CONN_MAX_AGE"] = _read("CONN_MAX_AGE", int, 60)
    _database["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Argon2id at OWASP's recommended parameters (accounts/hashers.py); PBKDF2 hashes made before
# it still verify and are re-hashed at their owner's next login.
PRODUCTION_PASSWORD_HASHERS = [
    "accounts.hashers.Argon2idHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
PASSWORD_HASHERS = PRODUCTION_PASSWORD_HASHERS
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Login attempts are throttled per username and address (django-axes).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = _read("AXES_ENABLED", strict_bool, not TESTING)
AXES_FAILURE_LIMIT = _read("AXES_FAILURE_LIMIT", int, 5)
AXES_COOLOFF_TIME = _read("AXES_COOLOFF_MINUTES", int, 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".mleval" / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = BASE_DIR / ".mleval" / "media"
WHITENOISE_USE_FINDERS = DEBUG or TESTING

# The cache holds API throttling budgets; with several web processes, point CACHE_URL at a
# shared cache (e.g. redis://127.0.0.1:6379/1) so every process counts against one budget.
try:
    CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
except (ValueError, ImproperlyConfigured) as error:
    raise ImproperlyConfigured(f"CACHE_URL has a bad value: {error}") from None
# The Redis client is an extra (`mleval[redis]`): say so at start-up, not at the first request.
if CACHES["default"]["BACKEND"].endswith(".RedisCache") and not importlib.util.find_spec("redis"):
    raise ImproperlyConfigured(
        "CACHE_URL names a Redis cache but the redis client is not installed: "
        "pip install 'mleval[redis]' (in a checkout: .venv/bin/pip install -e '.[redis]')"
    )

# Background work: Django's task API on the database backend; `manage.py db_worker` runs it.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
# Worker heartbeats (system/): /healthz answers 503 when a worker is expected and none has beaten
# within the stale age. `make run` and `make serve` set MLEVAL_EXPECT_WORKER=true.
MLEVAL_EXPECT_WORKER = env.bool("MLEVAL_EXPECT_WORKER", default=False)
MLEVAL_WORKER_STALE_SECONDS = env.int("MLEVAL_WORKER_STALE_SECONDS", default=120)
MLEVAL_WORKER_HEARTBEAT_SECONDS = env.float("MLEVAL_WORKER_HEARTBEAT_SECONDS", default=30)

# Runs (runs/callers.py): modules a `python:module:function` endpoint may name (importing
# runs their code), how often a running run's watchdog checks that its worker is alive, and the
# largest response upload the run page ingests at once (bigger ones go to the worker).
MLEVAL_PYTHON_ENDPOINT_MODULES = _read("MLEVAL_PYTHON_ENDPOINT_MODULES", list, ["runs.demo_models"])
# Custom evaluators (docs/evaluators.md): dotted paths to an Evaluator, a list of them or a
# scoring function, registered at start-up beside the entry point group mleval.evaluators.
MLEVAL_EVALUATORS = _read("MLEVAL_EVALUATORS", list, [])
# Human grading (docs/grading.md): an automatic evaluator is trusted once the lower bound of the
# 95% interval of its kappa against the graders' majority reaches MLEVAL_TRUST_MIN_KAPPA, on at
# least MLEVAL_TRUST_MIN_GRADED graded responses; below either it is marked on every page.
MLEVAL_TRUST_MIN_KAPPA = _read("MLEVAL_TRUST_MIN_KAPPA", float, 0.6)
MLEVAL_TRUST_MIN_GRADED = _read("MLEVAL_TRUST_MIN_GRADED", int, 30)
# The hosts and networks a run's http(s) endpoint may reach (runs/reach.py): `*` (anything, the
# development and test default), `public` (globally routable addresses only, the production
# default), CIDR networks, addresses, host names and `.domain` suffixes, comma-separated.
MLEVAL_ENDPOINT_ALLOWED_HOSTS = _read(
    "MLEVAL_ENDPOINT_ALLOWED_HOSTS", list, ["public"] if PRODUCTION else ["*"]
)
MLEVAL_RUN_WATCHDOG_SECONDS = _read("MLEVAL_RUN_WATCHDOG_SECONDS", float, 30.0)
MLEVAL_SYNC_IMPORT_BYTES = _read("MLEVAL_SYNC_IMPORT_BYTES", int, 5 * 1024**2)

# Uploads: large imports are streamed to disk, never held in memory.
MLEVAL_MAX_UPLOAD_BYTES = _read("MLEVAL_MAX_UPLOAD_BYTES", int, 1024**3)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = _read("DATA_UPLOAD_MAX_MEMORY_SIZE", int, 50 * 1024**2)

# REST API (/api/v1/): Bearer tokens or the browser session, the pages' roles, one error format.
API_THROTTLE_RATE = _read("MLEVAL_API_THROTTLE_RATE", str, "1200/minute")
if API_THROTTLE_RATE.lower() in ("", "none", "off"):
    API_THROTTLE_RATE = None
elif not re.fullmatch(r"\d+/(s|sec|second|m|min|minute|h|hour|d|day)", API_THROTTLE_RATE):
    raise ImproperlyConfigured(
        f"MLEVAL_API_THROTTLE_RATE has a bad value {API_THROTTLE_RATE!r}: write requests per "
        "period, e.g. 1200/minute, 50/second or 100000/day (or 'off')."
    )
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "mleval_site.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, so that a request without credentials gets 401 with WWW-Authenticate: Bearer.
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",  # enforces CSRF on writes
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mleval_site.api.RolePermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["mleval_site.api.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": API_THROTTLE_RATE},
    "DEFAULT_PAGINATION_CLASS": "mleval_site.api.CursorPage",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["mleval_site.api.SafeJSONParser"],
    "EXCEPTION_HANDLER": "mleval_site.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mleval API",
    "DESCRIPTION": (
        "Golden sets, model runs, responses, evaluations and reports. Authenticate with "
        "`Authorization: Bearer <token>` (create tokens at /accounts/tokens/) or the browser "
        'session. Errors: `{"detail": "...", "errors": {"field": ["..."]}}`.'
    ),
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",  # JSON Schema 2020-12: propertyNames, if/then (mleval_site.api_schema)
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mleval_site.api_schema.complete_schema",
    ],
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    # Several fields are named "kind" (a connection's, a task's, a lineage's in the request and
    # in the answer, the latter with a blank): the lineage's choices get one name of their own.
    "ENUM_NAME_OVERRIDES": {"LineageKindEnum": "runs.lineage.LineageKind"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# One JSON line per request and per task on stdout (MLEVAL_REQUEST_LOG=false to silence).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "mleval_site.observability.JsonLineFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "json": {"class": "logging.StreamHandler", "formatter": "json",
                 "stream": "ext://sys.stdout"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "mleval": {"level": "INFO"},
        "mleval.requests": {
            "handlers": ["json"], "propagate": False,
            "level": "INFO" if _read("MLEVAL_REQUEST_LOG", strict_bool, not TESTING) else "WARNING",
        },
        "mleval.tasks": {"handlers": ["json"], "propagate": False, "level": "INFO"},
        # Django's own "django" logger prints to the console under DEBUG and then propagates to
        # the root's: the worker's task lines and the reloader's came out twice in `make run`.
        "django.tasks": {"handlers": ["console"], "propagate": False, "level": "INFO"},
        "django.utils.autoreload": {"handlers": ["console"], "propagate": False, "level": "INFO"},
        "axes": {"level": "WARNING"},
    },
}  # fmt: skip
