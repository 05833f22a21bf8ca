"""Production: everything from the environment; refuses to start without a secret key."""

import os

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403

DEBUG = False
try:
    SECRET_KEY = os.environ["GRIDGOV_SECRET_KEY"]
except KeyError as exc:
    raise ImproperlyConfigured("GRIDGOV_SECRET_KEY must be set in production") from exc
ALLOWED_HOSTS = [h for h in os.environ.get("GRIDGOV_ALLOWED_HOSTS", "").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("GRIDGOV_CSRF_TRUSTED_ORIGINS", "").split(",") if o]
SESSION_COOKIE_SECURE = env_bool("GRIDGOV_SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
