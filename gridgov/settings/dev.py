"""Local development and the demo served by `make run`."""

import os

from .base import *  # noqa: F403

DEBUG = True
# A development-only key; prod.py refuses to start without GRIDGOV_SECRET_KEY.
SECRET_KEY = os.environ.get("GRIDGOV_SECRET_KEY", "dev-only-not-secret")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", "testserver"]
# DRF's browsable API, for development only.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_RENDERER_CLASSES": [
        *REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"],
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
