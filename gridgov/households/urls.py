from django.urls import path

from . import views

app_name = "households"
urlpatterns = [
    path("", views.household_list, name="list"),
    path("export.csv", views.household_export, name="export"),
    path("<str:code>/", views.household_detail, name="detail"),
]
