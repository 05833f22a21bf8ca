"""Benchmarks: the development settings (local database, dev secret key, test host names) with the request
path of production: DEBUG off (Django would otherwise keep every query in memory) and no browsable API."""

from . import base
from .dev import *  # noqa: F403

DEBUG = False
REST_FRAMEWORK = base.REST_FRAMEWORK
