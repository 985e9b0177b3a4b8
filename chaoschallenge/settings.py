"""The one settings module for both roles (platform and anvil).

Everything comes from the environment through the helpers in ``common.env``;
with nothing set the project runs on embedded defaults (SQLite files and a
file cache under ``var/``, a filesystem Celery broker). ``.env.example``
documents every variable.
"""

from __future__ import annotations

import ipaddress
import os
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
# Where this machine's platform and url-anvil listen (scripts/dev-setup.sh);
# the load-test allow-list is built from them.
PLATFORM_PORT = env_int("PLATFORM_PORT", 8000, minimum=1)
ANVIL_PORT = env_int("ANVIL_PORT", 8080, minimum=1)

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_secret("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "platform", "anvil"] if DEBUG else [])
if DEBUG and "*" in ALLOWED_HOSTS:
    # Answering every host name means being reached from other machines,
    # where a debug page must never be shown (settings, source, variables).
    raise ImproperlyConfigured("ALLOWED_HOSTS='*' needs DEBUG=false")
# Debug pages and mailed error reports mask passwords inside URLs
# (DATABASE_URL, REDIS_URL, CELERY_BROKER_URL, a cache's LOCATION, …), which
# Django's own filter, going by setting names only, shows in full.
DEFAULT_EXCEPTION_REPORTER_FILTER = "common.reporting.CredentialMaskingExceptionReporterFilter"
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
    # Swagger UI's files, served from our own static files (the docs page loads nothing from elsewhere).
    "drf_spectacular_sidecar",
    "anvil",
    "loadtest",
    "leaderboard",
    "tracker",
    "sandbox",
]

if ROLE == "anvil":
    # The anvil answers strangers' JSON and must stay fast: no sessions, auth,
    # CSRF or messages, only its own instance/metrics/fault layer. That layer
    # records the request histogram itself: django-prometheus's before/after
    # pair costs more per request than the rest of /api/sample-urls together
    # (measured in docs/anvil.md); its /metrics view still does the exposition.
    MIDDLEWARE = ["anvil.middleware.AnvilMiddleware"]
    ROOT_URLCONF = "chaoschallenge.urls_anvil"
else:
    MIDDLEWARE = [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django.middleware.security.SecurityMiddleware",
        # JSON 4xx for API request bodies Django would answer with HTML or a 500.
        "common.middleware.ApiRequestBodyMiddleware",
        # The tracker's ingest API (API_SHORTCUT_PREFIXES) skips everything below.
        "common.middleware.ApiShortcutMiddleware",
        # gunicorn serves no static files; WhiteNoise does, from the finders
        # while DEBUG is on and from collectstatic's STATIC_ROOT otherwise.
        "whitenoise.middleware.WhiteNoiseMiddleware",
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
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# Serve straight from the source folders too, so the non-docker quickstart needs
# no collectstatic step; the image runs collectstatic for compressed copies.
WHITENOISE_USE_FINDERS = True

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
# Bearer token the platform's /metrics requires (common.metrics_auth); empty:
# /metrics is open, as on a developer laptop. The compose stack sets one and
# gives Prometheus the same file.
METRICS_TOKEN = env_secret("METRICS_TOKEN")

# --- Django REST framework -------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, with too deeply nested bodies as a 400 rather than a 500.
    "DEFAULT_PARSER_CLASSES": ["common.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    # One JSON shape for every API error: {"error": "...", "details": {...}}.
    "EXCEPTION_HANDLER": "common.api.api_exception_handler",
    # Proxies in front of the platform that append to X-Forwarded-For; with 0
    # the per-IP throttles use REMOTE_ADDR and a client cannot spoof its IP.
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0, minimum=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SRE Chaos Challenge API",
    "DESCRIPTION": "Submit your infrastructure's entry point; the platform load-tests, breaks and scores it.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/: Swagger UI from drf-spectacular-sidecar's static files, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # validatorUrl: Swagger UI would otherwise show a badge fetched from swagger.io.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "deepLinking": True},
}

# --- Celery ----------------------------------------------------------------
FILESYSTEM_BROKER_URL = "filesystem://localhost/"
# Empty counts as unset (as `.env.example` leaves it): Celery would otherwise fall back to AMQP.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or FILESYSTEM_BROKER_URL
if CELERY_BROKER_URL in ("filesystem://", "filesystem:///"):
    # The bare form makes kombu warn "No hostname was supplied" on every
    # connection; the filesystem transport ignores the host, so name one.
    # Celery prefers the environment variable to this setting, so it is
    # rewritten too (and child processes inherit the accepted form).
    CELERY_BROKER_URL = FILESYSTEM_BROKER_URL
    if os.environ.get("CELERY_BROKER_URL"):
        os.environ["CELERY_BROKER_URL"] = CELERY_BROKER_URL
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

# --- Load tests (loadtest app) -----------------------------------------------
# Load tests get their own queue, served with concurrency 1 per worker host so
# that two tests never share (and distort) one machine.
LOADTEST_QUEUE = env_str("LOADTEST_QUEUE", "loadtest")
# Who may be loaded (loadtest.targets): host:port entries, or host names, IPs
# and CIDR networks for every port but the platform's, PostgreSQL's and
# Redis's. The default names exact ports of this machine only: the local
# anvil and the example setups' entry points (examples/resilient-anvil's
# HAProxy on 8081, examples/bare-anvil on 8090). Never all of 127.0.0.0/8:
# the platform, its databases and whatever else listens on loopback are not
# targets. The compose stack sets its own list (its service names resolve
# only on its network).
LOADTEST_EXAMPLE_PORTS = (8081, 8090)
LOADTEST_ALLOWED_TARGET_HOSTS = env_list(
    "LOADTEST_ALLOWED_TARGET_HOSTS",
    [
        f"{host}:{port}"
        for port in (ANVIL_PORT, *LOADTEST_EXAMPLE_PORTS)
        if port not in {PLATFORM_PORT, 5432, 6379}
        for host in ("127.0.0.1", "localhost", "[::1]")
    ],
)
# How chaos plans reach url-anvil's faults. Empty URL: in-process through
# anvil.services (the fault store shared on this host / in Redis). Set both to
# go through the anvil's control API instead (another host, a container).
LOADTEST_ANVIL_CONTROL_URL = env_str("LOADTEST_ANVIL_CONTROL_URL").rstrip("/")
LOADTEST_ANVIL_CHAOS_TOKEN = env_secret("LOADTEST_ANVIL_CHAOS_TOKEN")
if LOADTEST_ANVIL_CONTROL_URL and not LOADTEST_ANVIL_CHAOS_TOKEN:
    raise ImproperlyConfigured("LOADTEST_ANVIL_CONTROL_URL needs LOADTEST_ANVIL_CHAOS_TOKEN (or _FILE)")
LOADTEST_MAX_PROCESSES = env_int("LOADTEST_MAX_PROCESSES", 8, minimum=1)
# Time a runner gets to start (and its workers to connect) on top of the profile's duration.
LOADTEST_START_GRACE_S = env_int("LOADTEST_START_GRACE_S", 30, minimum=1)
# The engine's periodic check (runs whose worker died, announcements to repeat)
# runs this often; a running run whose orchestrator has not written its
# heartbeat (about once a second) for LOADTEST_HEARTBEAT_STALE_S lost its
# worker. Together they bound how long a dead worker's faults stay on the anvil.
LOADTEST_STUCK_CHECK_S = env_int("LOADTEST_STUCK_CHECK_S", 5, minimum=1)
LOADTEST_HEARTBEAT_STALE_S = env_int("LOADTEST_HEARTBEAT_STALE_S", 10, minimum=3)
# How often a submission whose run was lost with its worker is started again.
LOADTEST_LOST_RUN_RETRIES = env_int("LOADTEST_LOST_RUN_RETRIES", 2, minimum=0)
# Live figures of the running test as Prometheus metrics on this port (0: off).
LOADTEST_METRICS_PORT = env_int("LOADTEST_METRICS_PORT", 0, minimum=0)
LOADTEST_METRICS_ADDR = env_str("LOADTEST_METRICS_ADDR", "127.0.0.1")
CELERY_TASK_ROUTES["loadtest.tasks.run_loadtest_task"] = {"queue": LOADTEST_QUEUE}
CELERY_BEAT_SCHEDULE["loadtest-reap-runs"] = {
    "task": "loadtest.tasks.runs_reap_task",
    "schedule": float(LOADTEST_STUCK_CHECK_S),
}

# --- url-anvil -------------------------------------------------------------
# Sample URLs point at the anvil's own /corpus/ unless a deployment serves it elsewhere.
ANVIL_CORPUS_BASE_URL = env_str("ANVIL_CORPUS_BASE_URL", f"http://127.0.0.1:{ANVIL_PORT}").rstrip("/")
# host or host:port entries; empty means "the corpus host only" (see anvil.safety).
ANVIL_FETCH_ALLOWED_HOSTS = env_list("ANVIL_FETCH_ALLOWED_HOSTS")
# Link-local addresses (169.254.0.0/16, fe80::/10: cloud metadata services) are
# refused after DNS resolution unless this is on.
ANVIL_FETCH_ALLOW_LINK_LOCAL = env_bool("ANVIL_FETCH_ALLOW_LINK_LOCAL", False)
ANVIL_FETCH_TIMEOUT_S = env_float("ANVIL_FETCH_TIMEOUT_S", 5.0)
ANVIL_FETCH_MAX_BYTES = env_int("ANVIL_FETCH_MAX_BYTES", 1_000_000, minimum=1)
ANVIL_FETCH_CONCURRENCY = env_int("ANVIL_FETCH_CONCURRENCY", 8, minimum=1)
ANVIL_FETCH_MAX_REDIRECTS = env_int("ANVIL_FETCH_MAX_REDIRECTS", 3, minimum=0)
ANVIL_MAX_URLS = env_int("ANVIL_MAX_URLS", 20, minimum=1)
ANVIL_MAX_BODY_BYTES = env_int("ANVIL_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
ANVIL_CHAOS_TOKEN = env_secret("ANVIL_CHAOS_TOKEN")
ANVIL_STATE_DIR = Path(env_str("ANVIL_STATE_DIR", str(VAR_DIR / "anvil"))).resolve()
# Namespace of the anvil's Redis keys, so several deployments (or test runs) can share one Redis.
ANVIL_STORE_PREFIX = env_str("ANVIL_STORE_PREFIX", "anvil:")
# How stale a process's copy of the fault list may get, and how often it reports in.
ANVIL_FAULT_REFRESH_S = env_float("ANVIL_FAULT_REFRESH_S", 1.0)
ANVIL_HEARTBEAT_S = env_float("ANVIL_HEARTBEAT_S", 2.0)
ANVIL_HEARTBEAT_STALE_S = env_float("ANVIL_HEARTBEAT_STALE_S", 10.0)

# --- Platform roles --------------------------------------------------------
ENABLE_LOCAL_TRACKER = env_bool("ENABLE_LOCAL_TRACKER", False)

# --- Local tracker ---------------------------------------------------------
# Opt-in personal notebook of load-test results in its own database (the
# "tracker" alias); with ENABLE_LOCAL_TRACKER off none of it is reachable.
# x-api-key expected by /tracker/api/…; empty: only clients in TRACKER_TRUSTED_NETWORKS are accepted.
LOCAL_TRACKER_API_KEY = env_secret("LOCAL_TRACKER_API_KEY")
# Client networks treated as "this machine": they may use the API without a key
# and see the pages without logging in (e.g. a docker bridge network).
TRACKER_TRUSTED_NETWORKS = env_list("TRACKER_TRUSTED_NETWORKS", ["127.0.0.0/8", "::1/128"])
for _network in TRACKER_TRUSTED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(f"TRACKER_TRUSTED_NETWORKS: {_network!r} is not an IP network") from None
# Where `run_loadtest --track` sends results when the tracker runs elsewhere
# (e.g. http://host:8000/tracker/api/track) and the key that server expects.
TRACKING_SERVICE_URL = env_str("TRACKING_SERVICE_URL")
TRACKING_SERVICE_API_KEY = env_secret("TRACKING_SERVICE_API_KEY")
# The userId that engine runs are logged under.
TRACKER_USER_ID = env_str("TRACKER_USER_ID", "local")
# A run is a regression/improvement when it differs from the pinned baseline by
# more than this percentage *and* lies outside the range of the previous N runs.
TRACKER_REGRESSION_THRESHOLD_PCT = env_float("TRACKER_REGRESSION_THRESHOLD_PCT", 10.0)
TRACKER_NOISE_WINDOW = env_int("TRACKER_NOISE_WINDOW", 5, minimum=0)
# Recording sessions: one small standard load test per interval.
TRACKER_RECORDING_INTERVAL_S = env_int("TRACKER_RECORDING_INTERVAL_S", 300, minimum=10)
TRACKER_RECORDING_USERS = env_int("TRACKER_RECORDING_USERS", 5, minimum=1)
TRACKER_RECORDING_DURATION_S = env_int("TRACKER_RECORDING_DURATION_S", 15, minimum=1)
# How often beat looks for recording sessions that are due.
TRACKER_RECORDING_TICK_S = env_int("TRACKER_RECORDING_TICK_S", 30, minimum=1)
# Most runs one batch may carry, and one page of GET /tracker/api/track/<userId>.
TRACKER_BATCH_MAX = env_int("TRACKER_BATCH_MAX", 5000, minimum=1)
TRACKER_PAGE_DEFAULT = env_int("TRACKER_PAGE_DEFAULT", 200, minimum=1)
TRACKER_PAGE_MAX = env_int("TRACKER_PAGE_MAX", 1000, minimum=1)
if TRACKER_PAGE_DEFAULT > TRACKER_PAGE_MAX:
    raise ImproperlyConfigured("TRACKER_PAGE_DEFAULT must not be above TRACKER_PAGE_MAX")
# Largest request body the tracker API reads (batches are bigger than Django's 2.5 MB form limit).
TRACKER_MAX_BODY_BYTES = env_int("TRACKER_MAX_BODY_BYTES", 10_000_000, minimum=1024)
# The ingest API is a hot path of one INSERT per request: a health-check
# round trip before it would double its latency. A connection broken by a
# database restart fails one request and is then discarded by Django.
DATABASES["tracker"]["CONN_HEALTH_CHECKS"] = False
for _database in DATABASES.values():
    if _database["ENGINE"] == "django.db.backends.postgresql":
        # Django turns psycopg's prepared statements off (for transaction-mode
        # poolers); the hottest statements ask for one explicitly
        # (common.prepared: the tracker's ingest INSERT, a leaderboard page's
        # rows) and need them on. Django's own queries bind client-side and
        # are never prepared either way.
        _database["OPTIONS"].setdefault("prepare_threshold", 5)
# The tracker API authenticates by its own key and uses no session, user or
# CSRF token: it skips the browser middleware (common.middleware).
API_SHORTCUT_PREFIXES = ["/tracker/api/"] if ENABLE_LOCAL_TRACKER else []
# Request bodies under these paths get the platform API's JSON errors
# (common.middleware.ApiRequestBodyMiddleware); the tracker API checks its own.
API_BODY_CHECK_PREFIXES = ["/api/"]
if ENABLE_LOCAL_TRACKER:
    CELERY_BEAT_SCHEDULE["tracker-recording-tick"] = {
        "task": "tracker.tasks.recording_tick_task",
        "schedule": float(TRACKER_RECORDING_TICK_S),
    }

# --- Playground (Prometheus file-based service discovery) -----------------
# ``manage.py add_scrape_target`` writes one JSON file per participant
# application here; Prometheus watches the folder (deploy/prometheus/).
PROMETHEUS_FILE_SD_DIR = Path(env_str("PROMETHEUS_FILE_SD_DIR", str(VAR_DIR / "scrape-targets"))).resolve()

# --- Leaderboard (the competition) ----------------------------------------
# Participant API keys are stored as HMAC-SHA256 under this secret (default:
# SECRET_KEY). Changing it invalidates every key, so set it explicitly in production.
LEADERBOARD_API_KEY_SECRET = env_secret("LEADERBOARD_API_KEY_SECRET") or SECRET_KEY
LEADERBOARD_PAGE_SIZE = env_int("LEADERBOARD_PAGE_SIZE", 50, minimum=1)
# API throttles, "<count>/<second|minute|hour|day>", counted in the shared cache:
# every request per client IP, authenticated requests per key, and new
# submissions per key (on top of the per-challenge daily limit).
LEADERBOARD_API_RATES = {
    "ip": env_str("API_RATE_PER_IP", "600/minute"),
    "key": env_str("API_RATE_PER_KEY", "120/minute"),
    "submit": env_str("API_RATE_SUBMIT_PER_KEY", "20/hour"),
}
# Prefix of the leaderboard's keys in the shared cache (throttle counters,
# cached answers, the ranking version); tests give each test its own.
LEADERBOARD_CACHE_NAMESPACE = env_str("LEADERBOARD_CACHE_NAMESPACE", "leaderboard")
# Seconds the public leaderboard API answer may be served from the cache; a
# newly scored submission invalidates it at once.
LEADERBOARD_CACHE_S = env_int("LEADERBOARD_CACHE_S", 30, minimum=0)

# --- Sandbox (bundles run in containers the platform owns) ----------------
# "docker": a bundle run starts a sandbox on the engine at DOCKER_HOST (the
# SDK's default socket when unset); "kubernetes": in a namespace of its own on
# the cluster below (docs/cloud.md); "off": bundle runs are refused at creation.
SANDBOX_BACKEND = env_str("SANDBOX_BACKEND", "docker")
if SANDBOX_BACKEND not in {"docker", "kubernetes", "off"}:
    raise ImproperlyConfigured(f"SANDBOX_BACKEND={SANDBOX_BACKEND!r}: use 'docker', 'kubernetes' or 'off'")
SANDBOX_DOCKER_HOST = env_str("DOCKER_HOST")
# Seconds a bundle may take from create to ready (added to the run's time limits).
SANDBOX_READY_S = env_int("SANDBOX_READY_S", 60, minimum=5)
# The image catalogue scripts/build-images.sh pins (image ids and users).
SANDBOX_CATALOGUE_FILE = Path(env_str("SANDBOX_CATALOGUE_FILE", str(VAR_DIR / "sandbox" / "catalogue.json"))).resolve()
# ConfigMaps and proxy configurations are written here and mounted read-only.
SANDBOX_STATE_DIR = Path(env_str("SANDBOX_STATE_DIR", str(VAR_DIR / "sandbox" / "runs"))).resolve()
# The host firewall rules that seal sandbox bridges off: "install" (if
# missing; needs root), "check" (refuse to start a sandbox without them), or
# "off" (the engine is isolated otherwise, e.g. in a network namespace of its own).
SANDBOX_FIREWALL = env_str("SANDBOX_FIREWALL", "install")
if SANDBOX_FIREWALL not in {"install", "check", "off"}:
    raise ImproperlyConfigured(f"SANDBOX_FIREWALL={SANDBOX_FIREWALL!r}: use 'install', 'check' or 'off'")
SANDBOX_PIDS_LIMIT = env_int("SANDBOX_PIDS_LIMIT", 512, minimum=16)
# An IPv4 network the sandboxes' networks are cut from, a /24 each (empty: the
# engine's default address pools, which hold some thirty networks).
SANDBOX_SUBNET_POOL = env_str("SANDBOX_SUBNET_POOL")
if SANDBOX_SUBNET_POOL:
    try:
        if ipaddress.ip_network(SANDBOX_SUBNET_POOL).version != 4:
            raise ValueError("not IPv4")
    except ValueError as exc:
        raise ImproperlyConfigured(f"SANDBOX_SUBNET_POOL={SANDBOX_SUBNET_POOL!r}: an IPv4 network ({exc})") from None
# The load runner's container: CPUs and memory per Locust process.
SANDBOX_RUNNER_CPUS = env_float("SANDBOX_RUNNER_CPUS", 1.0)
SANDBOX_RUNNER_MEMORY_MB = env_int("SANDBOX_RUNNER_MEMORY_MB", 512, minimum=128)
# How long `manage.py sandbox_up` keeps a sandbox before the reaper removes it.
SANDBOX_UP_TTL_S = env_int("SANDBOX_UP_TTL_S", 3600, minimum=60)
SANDBOX_REAP_S = env_int("SANDBOX_REAP_S", 30, minimum=5)
# --- Sandbox on Kubernetes (SANDBOX_BACKEND=kubernetes; docs/cloud.md) ------
# The API server: in-cluster credentials when both are empty, else a
# kubeconfig file, or a plain URL such as `kubectl proxy`'s.
SANDBOX_K8S_KUBECONFIG = env_str("SANDBOX_K8S_KUBECONFIG")
SANDBOX_K8S_API_URL = env_str("SANDBOX_K8S_API_URL")
# Where the platform's own pods run (the fault port of a sandbox's url-anvil
# replicas admits this namespace only) and where the load Jobs run.
SANDBOX_K8S_PLATFORM_NAMESPACE = env_str("SANDBOX_K8S_PLATFORM_NAMESPACE", "sre-chaos")
SANDBOX_K8S_LOAD_NAMESPACE = env_str("SANDBOX_K8S_LOAD_NAMESPACE", "sre-chaos-load")
SANDBOX_K8S_SERVICE_ACCOUNT = env_str("SANDBOX_K8S_SERVICE_ACCOUNT", "loadtest-worker")
# The catalogue's images on the cluster: <registry>/<name>@<digest>, where
# SANDBOX_K8S_DIGESTS reads "url-anvil=sha256:…,haproxy=sha256:…,nginx=sha256:…".
SANDBOX_K8S_REGISTRY = env_str("SANDBOX_K8S_REGISTRY", "registry.example.org/sre-chaos")
SANDBOX_K8S_DIGESTS = env_list("SANDBOX_K8S_DIGESTS")
# uid:gid each image runs as: a restricted pod must name numbers, and the
# haproxy image's user is whatever Debian's package gave it, so copy the
# "users" of the catalogue.json scripts/build-images.sh writes.
SANDBOX_K8S_USERS = env_list("SANDBOX_K8S_USERS", ["url-anvil=10001:10001", "nginx=33:33"])
if SANDBOX_BACKEND in {"docker", "kubernetes"}:
    CELERY_BEAT_SCHEDULE["sandbox-reap"] = {
        "task": "sandbox.tasks.sandboxes_reap_task",
        "schedule": float(SANDBOX_REAP_S),
    }
