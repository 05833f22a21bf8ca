"""The project's URLs plus the batch sync through DRF only, to compare answers: a view of its own, made from
DRF's view class (what a test patches in `apis` does not reach it)."""

from django.urls import path

from gridgov.urls import urlpatterns as project
from gridgov.visits.apis import visit_sync

urlpatterns = [path("drf-sync/", visit_sync.cls.as_view()), *project]  # type: ignore[attr-defined]
