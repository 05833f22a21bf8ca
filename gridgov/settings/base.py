"""Settings shared by every environment. Everything that differs comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).lower() in {"1", "true", "yes", "on"}


def default_database_url() -> str:
    """The project-private cluster started by scripts/bootstrap.sh (TCP on loopback)."""
    port = os.environ.get("GRIDGOV_PGPORT", "54329")
    return f"postgis://gridgov@127.0.0.1:{port}/gridgov"


DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or default_database_url(),
        engine="django.contrib.gis.db.backends.postgis",
        conn_max_age=60,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework_gis",
    "django_filters",
    "drf_spectacular",
    "leaflet",
    "gridgov.core",
    "gridgov.accounts",
    "gridgov.geo",
    "gridgov.households",
    "gridgov.teams",
    "gridgov.dispatch",
    "gridgov.gridding",
    "gridgov.visits",
    "gridgov.cases",
    "gridgov.open311",
    "gridgov.maps",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (collected into STATIC_ROOT) straight from the production server; never MEDIA_ROOT:
    # uploaded photos are only served by the scoped views.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gridgov.urls"
WSGI_APPLICATION = "gridgov.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "gridgov.accounts.backends.MemberModelBackend",
    # Sessions opened before the backend above existed name this one: they stay valid.
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
                "django.template.context_processors.i18n",
                "gridgov.core.context_processors.gridgov",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Chinese first: the users are street offices and grid members; English for everyone else.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "gridgov" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("GRIDGOV_STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_ROOT = Path(os.environ.get("GRIDGOV_MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "media/"

REST_FRAMEWORK = {
    # JSON only (orjson); dev.py adds DRF's browsable API when DEBUG is on.
    "DEFAULT_RENDERER_CLASSES": ["gridgov.core.fastjson.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "gridgov.core.fastjson.FastJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "gridgov.core.fastjson.FastContentNegotiation",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "gridgov.core.pagination.FeaturePagination",
    "PAGE_SIZE": 500,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "gridgov.core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "gridgov API",
    "DESCRIPTION": "Grid-based community governance: hierarchy, buildings, households (scoped).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Basemap: empty by default (air-gapped intranets). Set GRIDGOV_BASEMAP_URL to an intranet tile
# server, e.g. a Tianditu mirror, "https://tiles.intranet/{z}/{x}/{y}.png".
BASEMAP_URL = os.environ.get("GRIDGOV_BASEMAP_URL", "")
BASEMAP_ATTRIBUTION = os.environ.get("GRIDGOV_BASEMAP_ATTRIBUTION", "")
# The map page draws every grid and area of a scope up to this many of each; beyond (a whole city), grids
# and areas are fetched for the viewport once zoomed in.
GRIDGOV_MAP_ALL_UP_TO = int(os.environ.get("GRIDGOV_MAP_ALL_UP_TO", "4000"))
LEAFLET_CONFIG = {
    # django-leaflet defaults to OpenStreetMap tiles from the internet: never here.
    "TILES": [(_("Basemap"), BASEMAP_URL, {"attribution": BASEMAP_ATTRIBUTION, "maxZoom": 19})]
    if BASEMAP_URL
    else [],
    "DEFAULT_CENTER": (22.58, 114.26),
    "DEFAULT_ZOOM": 12,
    "MAX_ZOOM": 19,
    "RESET_VIEW": False,
    "NO_GLOBALS": False,
}

# Silenced deliberately: gis.W001 warns that GDAL < 3.9 cannot block file/network access while
# parsing SRS strings. gridgov never hands a user-supplied SRS string to GDAL: importers read the
# CRS from the file's own metadata and only accept EPSG integer codes from users
# (gridgov.geo.importers.resolve_srid).
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Masked personal data: which roles see head-of-household name, phone and ID number in full.
GRIDGOV_PII_ROLES = ("member", "leader", "community", "admin")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("GRIDGOV_LOG_LEVEL", "WARNING")},
}

# Visit verification (issue 4): a visit beyond these limits is flagged for the grid leader to review.
GRIDGOV_VISIT_RULES = {
    "max_distance_m": float(os.environ.get("GRIDGOV_VISIT_MAX_DISTANCE_M", 150)),
    "max_accuracy_m": float(os.environ.get("GRIDGOV_VISIT_MAX_ACCURACY_M", 100)),
    "max_speed_mps": float(os.environ.get("GRIDGOV_VISIT_MAX_SPEED_MPS", 15)),
    "repeat_window_hours": float(os.environ.get("GRIDGOV_VISIT_REPEAT_HOURS", 24)),
    "future_skew_minutes": float(os.environ.get("GRIDGOV_VISIT_FUTURE_SKEW_MIN", 10)),
    "max_photo_bytes": int(os.environ.get("GRIDGOV_VISIT_MAX_PHOTO_BYTES", 5 * 1024 * 1024)),
    "max_batch": int(os.environ.get("GRIDGOV_VISIT_MAX_BATCH", 1000)),
}

# Issues (issue 5). Office hours on working days; time limits are counted in them.
GRIDGOV_OFFICE_HOURS = os.environ.get("GRIDGOV_OFFICE_HOURS", "08:30-12:00,14:00-17:30")
# 属地兜底: who takes a case reported outside every grid. A community, street or district code;
# empty means "the smallest unit whose boundary contains the point", and outside the district an error.
GRIDGOV_TERRITORIAL_FALLBACK = os.environ.get("GRIDGOV_TERRITORIAL_FALLBACK", "")
GRIDGOV_CASE_RULES = {
    "yellow_share": float(os.environ.get("GRIDGOV_CASE_YELLOW_SHARE", 0.25)),  # yellow: last 25% of a step
    "max_photo_bytes": int(os.environ.get("GRIDGOV_CASE_MAX_PHOTO_BYTES", 5 * 1024 * 1024)),
    "public_rate": os.environ.get("GRIDGOV_PUBLIC_REPORT_RATE", "5/h"),  # per client address
}
# SMS: a dotted path to a sender class (gridgov.dispatch.senders.SmsSender); the default only logs.
GRIDGOV_SMS_SENDER = os.environ.get("GRIDGOV_SMS_SENDER", "gridgov.dispatch.senders.LoggingSmsSender")
EMAIL_BACKEND = os.environ.get("GRIDGOV_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("GRIDGOV_FROM_EMAIL", "gridgov@localhost")

# Celery: the broker is the private Redis started by scripts/bootstrap.sh (or GRIDGOV_REDIS_URL).
CELERY_BROKER_URL = os.environ.get(
    "GRIDGOV_REDIS_URL", f"redis://127.0.0.1:{os.environ.get('GRIDGOV_REDISPORT', '63799')}/0"
)
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "escalation-sweep": {"task": "gridgov.cases.tasks.sweep", "schedule": 60.0},
    "deliver-messages": {"task": "gridgov.dispatch.tasks.deliver_due", "schedule": 60.0},
    "fold-visit-rollups": {"task": "gridgov.visits.tasks.fold_rollups", "schedule": 60.0},
}
GRIDGOV_TRUSTED_PROXY = env_bool("GRIDGOV_TRUSTED_PROXY")
# The shared cache (rate limits, sessions, session users): the private Redis, database 1. Keys are
# prefixed with the database name: two databases on one Redis (a benchmark copy, a second checkout)
# never read each other's sessions or users.
CACHES = {
    "default": {
        "BACKEND": "gridgov.core.cache.RedisCache",  # Django's, keeping its clients
        "LOCATION": os.environ.get(
            "GRIDGOV_CACHE_URL", f"redis://127.0.0.1:{os.environ.get('GRIDGOV_REDISPORT', '63799')}/1"
        ),
        "KEY_PREFIX": DATABASES["default"]["NAME"],
    }
}
# Sessions are written to the database and read from the cache (one Redis GET per request instead of a
# query); the logged-in user comes from the cache too (gridgov.accounts.backends).
SESSION_ENGINE = "gridgov.core.sessions"  # Django's cached_db, surviving a Redis outage
