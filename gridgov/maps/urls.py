from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("map/", views.map_page, name="map"),
    path("map/reports/", views.reports_page, name="map-reports"),
    path("map/reports/coverage/", views.coverage_report, name="map-report-coverage"),
    path("map/reports/issues/", views.cases_report, name="map-report-issues"),
]
