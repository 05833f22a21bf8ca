"""URL map: pages (i18n-aware), admin, API and schema."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView

from gridgov.cases.urls import public_urlpatterns as public_case_urls

admin.site.site_header = _("gridgov administration")
admin.site.site_title = _("gridgov administration")
admin.site.index_title = _("Ledger, boundaries and settings")

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include("gridgov.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("", include("gridgov.maps.urls")),
    path("households/", include("gridgov.households.urls")),
    path("imports/", include("gridgov.geo.import_urls")),
    path("gridding/", include("gridgov.gridding.urls")),
    path("visits/", include("gridgov.visits.urls")),
    path("cases/", include("gridgov.cases.urls")),
    path("open311/v2/", include("gridgov.open311.urls")),
    path("", include((public_case_urls, "public"))),
]
