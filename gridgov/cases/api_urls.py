"""Issue API routes (mounted under /api/v1/)."""

from django.urls import path

from gridgov.dispatch import apis as dispatch

from . import apis

urlpatterns = [
    path("cases/", apis.case_collection, name="case-list"),
    path("cases/duplicates/", apis.duplicate_check, name="case-duplicates"),
    path("cases/console/", apis.console, name="case-console"),
    path("cases/dispatch/", apis.bulk_dispatch, name="case-bulk-dispatch"),
    path("cases/inbox/", apis.inbox, name="case-inbox"),
    path("cases/monitoring/", apis.monitoring, name="case-monitoring"),
    path("cases/departments/", apis.department_metrics, name="case-department-metrics"),
    path("cases/extensions/<int:pk>/decide/", apis.extension_decide, name="case-extension-decide"),
    path("cases/<uuid:pk>/", apis.case_detail, name="case-detail"),
    path("cases/<uuid:pk>/photos/", apis.case_photo, name="case-photo"),
    path("cases/<uuid:pk>/<slug:action>/", apis.case_action, name="case-action"),
    path("categories/", apis.categories, name="case-categories"),
    path("notifications/", dispatch.notifications, name="notifications"),
    path("notifications/read/", dispatch.notifications_read, name="notifications-read"),
    path("public/reports/", apis.public_report, name="public-report"),
    path("public/track/<str:token>/", apis.public_track, name="public-track"),
    path("public/track/<str:token>/evaluate/", apis.public_evaluate, name="public-evaluate"),
]
