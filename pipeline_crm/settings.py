"""Settings for Pipeline CRM, read from the environment.

Defaults make `make run` work on a laptop: SQLite, Celery in eager mode, DEBUG on.
Production differs only through variables (see .env.example); with DEBUG=false the
settings refuse to start without a real SECRET_KEY.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from pipeline_crm.env import env_bool, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# "production" makes DEBUG default to off and refuses to start with it on.
ENVIRONMENT = env_str("ENVIRONMENT", "development")
if ENVIRONMENT not in ("development", "production"):
    raise ImproperlyConfigured(
        f"ENVIRONMENT must be development or production, got {ENVIRONMENT!r}"
    )
DEBUG = env_bool("DEBUG", ENVIRONMENT == "development")
if ENVIRONMENT == "production" and DEBUG:
    raise ImproperlyConfigured("DEBUG must be off when ENVIRONMENT is production.")

_DEV_SECRET_KEY = "django-insecure-dev-only-key-do-not-use-in-production"
SECRET_KEY = env_secret("SECRET_KEY", _DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured("Set SECRET_KEY to 50 or more random characters when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "adminsortable2",
    "axes",
    "csp",
    "simple_history",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "django_htmx",
    "template_partials",
    "pipeline_crm",
    "stages",
    "deals",
    "tasks",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages: tells the user when queued work (an email) will go out later.
    "pipeline_crm.jobs.DeferredJobsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After htmx: a fragment request that must log in again reloads its page instead.
    "pipeline_crm.errors.LoginRedirectMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes requires: turns a lockout into its response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "pipeline_crm.urls"

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
                "pipeline_crm.context_processors.navigation",
            ],
        },
    },
]

WSGI_APPLICATION = "pipeline_crm.wsgi.application"

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL's JIT compiles a query whose estimated cost is high, such as a report's
    # aggregate over 100,000 deals: 250 ms of compiling for 40 ms of work. The app's queries
    # are all short; none gains from it.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
else:
    # The board's covering index (deals.Deal.Meta.indexes) carries columns for PostgreSQL's
    # index-only scans; SQLite builds it without them, which is all it needs.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A shared cache (Redis) in production; per-process memory otherwise.
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Sessions are read from the cache and written through to the database. A per-process
# cache would keep serving a session another process has logged out, so production
# without CACHE_URL reads sessions from the database.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if CACHE_URL or DEBUG
    else "django.contrib.sessions.backends.db"
)

AUTH_USER_MODEL = "pipeline_crm.User"
LOGIN_URL = "login"
CSRF_FAILURE_VIEW = "pipeline_crm.errors.csrf_failure"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AUTHENTICATION_BACKENDS = [
    # Refuses logins for a locked-out username or address before checking the password.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after LOGIN_FAILURE_LIMIT failures, the username and the address are
# each locked out for LOGIN_LOCKOUT_MINUTES; a successful login resets the count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0) or None

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Reps change only their own deals unless this is on: then also their teammates'.
TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS = env_bool("TEAM_MEMBERS_CHANGE_EACH_OTHERS_DEALS", False)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Front-end libraries come from npm; `npm run build` copies their built files to static/vendor/.
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# In development WhiteNoise serves straight from the finders; production runs collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Email: console in development, SMTP from the environment in production.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Pipeline CRM <crm@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Celery: without a broker, tasks run in the web process as they are queued. Eager mode
# still takes a producer to serialise a job's arguments: kombu's in-memory transport, not
# its default AMQP on a host nobody named (a warning on the first job of each process).
# Only in eager mode: a worker elsewhere would never see what went into this process's memory.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not env_str("CELERY_BROKER_URL"))
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or (
    "memory://localhost/" if CELERY_TASK_ALWAYS_EAGER else ""
)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 14 * 60)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
# A web request that queues work must never hang on a dead broker: fail fast, once, and let
# pipeline_crm.jobs.enqueue record it; the periodic jobs below catch up.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    # Connecting to publish: one quick retry, not kombu's default of seconds of backoff.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_PUBLISH_RETRY = False
# Every periodic job, in one place (times in TIME_ZONE).
CELERY_BEAT_SCHEDULE = {
    # crontab(minute=0, hour=6) = "0 6 * * *": every day at 06:00, before reps start.
    "suggest-followups": {
        "task": "tasks.tasks.suggest_followups_task",
        "schedule": crontab(minute=0, hour=6),
    },
    # crontab(minute="*/5") = "*/5 * * * *": every five minutes. Sends due reminders and any
    # notification whose email could not be queued when it was written.
    "send-due-reminders": {
        "task": "tasks.tasks.send_due_reminders_task",
        "schedule": crontab(minute="*/5"),
    },
    # Every five minutes: flushes (and undos) whose job could not be queued or whose
    # worker died carry on where they stopped.
    "resume-flushes": {
        "task": "deals.tasks.resume_flushes_task",
        "schedule": crontab(minute="*/5"),
    },
    # crontab(minute=0, hour=5) = "0 5 * * *": the pipelines' monthly automatic flush. It
    # runs once a month per pipeline, on the first day it finds stale deals; asked every
    # day, so that a month whose first morning the beat missed is not skipped.
    "scheduled-flushes": {
        "task": "deals.tasks.scheduled_flushes_task",
        "schedule": crontab(minute=0, hour=5),
    },
    # Every half hour: the learned stage probabilities the funnel and forecast read.
    "refresh-learned-probabilities": {
        "task": "reports.tasks.refresh_learned_probabilities_task",
        "schedule": crontab(minute="*/30"),
    },
}
# Absolute links in emails.
SITE_URL = env_str("SITE_URL", "http://localhost:8000").rstrip("/")

# Suggested follow-ups: an open deal with no activity for this many days gets one
# (a pipeline's own "follow-up after" overrides it).
FOLLOWUP_INACTIVE_DAYS = env_int("FOLLOWUP_INACTIVE_DAYS", 10)
# Flushing stale deals: the lost reason the flushed deals get, how many days a flush can be
# undone, and how many deals one transaction of the job moves.
FLUSH_LOST_REASON = env_str("FLUSH_LOST_REASON", "Stale (flushed)")
FLUSH_UNDO_DAYS = env_int("FLUSH_UNDO_DAYS", 30)
FLUSH_BATCH_SIZE = env_int("FLUSH_BATCH_SIZE", 5000)
# Learned stage probabilities: the share of the deals that entered a stage and ended won,
# over the deals closed in this many months; the admin applies them only where at least
# LEARNED_PROBABILITY_MIN_SAMPLE closed deals entered the stage.
LEARNED_PROBABILITY_MONTHS = env_int("LEARNED_PROBABILITY_MONTHS", 12)
LEARNED_PROBABILITY_MIN_SAMPLE = env_int("LEARNED_PROBABILITY_MIN_SAMPLE", 20)

# Security: these apply whenever DEBUG is off.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere (the admin included): everything comes from /static/.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Bootstrap draws some icons (select arrows, checkboxes) as data: SVG in its CSS.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
