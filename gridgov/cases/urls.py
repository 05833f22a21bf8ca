"""Issue pages (mounted under /cases/) and the residents' pages (mounted at the root, no login)."""

from django.urls import path

from . import views

app_name = "cases"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("new/", views.case_new, name="new"),
    path("console/", views.console, name="console"),
    path("console/dispatch/", views.console_dispatch, name="console-dispatch"),
    path("inbox/", views.inbox, name="inbox"),
    path("monitor/", views.monitor, name="monitor"),
    path("notifications/", views.notifications, name="notifications"),
    path("extensions/<int:pk>/decide/", views.extension_decide, name="extension-decide"),
    path("<uuid:pk>/", views.case_detail, name="detail"),
    path("<uuid:pk>/photos/<int:photo>/", views.case_photo_file, name="photo"),
    path("<uuid:pk>/<slug:action>/", views.case_action, name="action"),
]

# Included in gridgov/urls.py under the namespace "public".
public_urlpatterns = [
    path("report/", views.public_report, name="report"),
    path("report/outlines.json", views.public_outlines, name="outlines"),
    path("track/<str:token>/", views.track, name="track"),
]
