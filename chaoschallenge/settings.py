"""The one settings module for both roles (platform and anvil).

Everything comes from the environment through the helpers in ``common.env``;
with nothing set the project runs on embedded defaults (SQLite files and a
file cache under ``var/``, a filesystem Celery broker). ``.env.example``
documents every variable.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from common.env import (
    database_from_url,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

# "platform" serves the competition, API, admin and tracker; "anvil" serves
# url-anvil only and never touches a database. The role is chosen by the
# WSGI entry point (chaoschallenge.wsgi / chaoschallenge.wsgi_anvil).
ROLE = env_str("CHAOS_ROLE", "platform")
if ROLE not in {"platform", "anvil"}:
    raise ImproperlyConfigured(f"CHAOS_ROLE={ROLE!r}: use 'platform' or 'anvil'")

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "platform", "anvil"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "rest_framework",
    "drf_spectacular",
    "anvil",
    "loadtest",
    "leaderboard",
    "tracker",
]

if ROLE == "anvil":
    # The anvil answers strangers' JSON and must stay fast: no sessions, auth,
    # CSRF or messages, just metrics and the anvil's own instance/fault layer.
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "anvil.middleware.AnvilMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    ROOT_URLCONF = "chaoschallenge.urls_anvil"
else:
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "django_prometheus.middleware.PrometheusAfterMiddleware",
    ]
    ROOT_URLCONF = "chaoschallenge.urls"

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

WSGI_APPLICATION = "chaoschallenge.wsgi.application"

# --- Databases -------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
TRACKER_DATABASE_URL = env_str("TRACKER_DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL) if DATABASE_URL else sqlite_database(VAR_DIR / "platform.sqlite3"),
    "tracker": (
        database_from_url(TRACKER_DATABASE_URL, name="TRACKER_DATABASE_URL")
        if TRACKER_DATABASE_URL
        else sqlite_database(VAR_DIR / "tracker.sqlite3")
    ),
}
DATABASE_ROUTERS = ["chaoschallenge.routers.TrackerRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis -------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # A file cache is shared by every process on the host (gunicorn workers,
    # Celery), which the throttles need; no server required.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Auth, i18n, static ----------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)

# --- Logging ---------------------------------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# --- Prometheus ------------------------------------------------------------
PROMETHEUS_EXPORT_MIGRATIONS = False

# --- Django REST framework -------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SRE Chaos Challenge API",
    "DESCRIPTION": "Submit your infrastructure's entry point; the platform load-tests, breaks and scores it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Celery ----------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "celery-broker"
LOADTEST_MAX_DURATION_S = env_int("LOADTEST_MAX_DURATION_S", 3600, minimum=1)
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: one folder is both the in- and out-box so
    # that every process on this host sees the same queues.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Redelivery must never happen while a long load test is still running.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": LOADTEST_MAX_DURATION_S * 2 + 600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ROUTES: dict = {}
CELERY_BEAT_SCHEDULE: dict = {}

# --- url-anvil -------------------------------------------------------------
ANVIL_PORT = env_int("ANVIL_PORT", 8080, minimum=1)
ANVIL_CORPUS_BASE_URL = env_str("ANVIL_CORPUS_BASE_URL", f"http://127.0.0.1:{ANVIL_PORT}").rstrip("/")
ANVIL_FETCH_ALLOWED_HOSTS = env_list("ANVIL_FETCH_ALLOWED_HOSTS")
ANVIL_FETCH_ALLOW_PRIVATE = env_bool("ANVIL_FETCH_ALLOW_PRIVATE", False)
ANVIL_FETCH_TIMEOUT_S = env_float("ANVIL_FETCH_TIMEOUT_S", 5.0)
ANVIL_FETCH_MAX_BYTES = env_int("ANVIL_FETCH_MAX_BYTES", 1_000_000, minimum=1)
ANVIL_FETCH_CONCURRENCY = env_int("ANVIL_FETCH_CONCURRENCY", 8, minimum=1)
ANVIL_MAX_URLS = env_int("ANVIL_MAX_URLS", 20, minimum=1)
ANVIL_CHAOS_TOKEN = env_secret("ANVIL_CHAOS_TOKEN")
ANVIL_STATE_DIR = VAR_DIR / "anvil"

# --- Platform roles --------------------------------------------------------
PLATFORM_PORT = env_int("PLATFORM_PORT", 8000, minimum=1)
ENABLE_LOCAL_TRACKER = env_bool("ENABLE_LOCAL_TRACKER", False)
