"""gridgov: grid-based community governance GIS service (网格化管理)."""

# Load the Celery app with Django so `shared_task` binds to it and `.delay()` reaches the broker.
from .celery import app as celery_app

__all__ = ("celery_app",)
