from django.urls import path

from . import views

app_name = "gridding"
urlpatterns = [
    path("", views.community_list, name="list"),
    path("<str:code>/", views.community_page, name="community"),
    path("plans/<int:pk>/", views.plan_page, name="plan"),
]
