from django.urls import path

from . import views

app_name = "visits"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("sw.js", views.service_worker, name="sw"),
    path("review/", views.review_page, name="review"),
    path("team/", views.team_page, name="team"),
    path("<uuid:pk>/photo/", views.visit_photo_file, name="photo"),
]
