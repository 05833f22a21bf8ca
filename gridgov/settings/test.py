"""Settings for the test suite: real PostGIS, fast hashing."""

import os

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-not-secret"
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LANGUAGE_CODE = "en"

# Parallel runs on one cluster (two checkouts, a developer and a helper) need distinct test DBs.
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("GRIDGOV_TEST_DB", "test_gridgov")}

# Tasks run in the test process (deterministic); one integration test drives a real worker instead.
CELERY_TASK_ALWAYS_EAGER = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Static files from the apps' own folders (no collectstatic before tests); the production server test
# (tests/test_serving.py) collects them and serves them the production way.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# The private cluster is durable (it is also production's, see scripts/bootstrap.sh); the suite's own
# sessions need not wait for each commit to reach the disk (a crash loses the last test commits, never
# corrupts anything). Benchmarks keep synchronous commit on, as production has it.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
