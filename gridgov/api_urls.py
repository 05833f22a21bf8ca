"""REST API v1 routes."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from gridgov.geo import apis as geo
from gridgov.gridding import apis as gridding
from gridgov.households import apis as households
from gridgov.visits import apis as visits

router = DefaultRouter()
router.register("districts", geo.DistrictViewSet, basename="district")
router.register("streets", geo.StreetViewSet, basename="street")
router.register("communities", geo.CommunityViewSet, basename="community")
router.register("grids", geo.GridViewSet, basename="grid")
router.register("areas", geo.AreaViewSet, basename="area")
router.register("buildings", geo.BuildingViewSet, basename="building")
router.register("households", households.HouseholdViewSet, basename="household")
router.register("gridding/plans", gridding.PlanViewSet, basename="gridding-plan")

urlpatterns = [
    path("visits/", visits.visit_create, name="visit-create"),
    path("visits/sync/", visits.visit_sync, name="visit-sync"),
    path("visits/mine/", visits.my_households, name="visit-my-households"),
    path("visits/review/", visits.review_queue, name="visit-review-queue"),
    path("visits/review/<uuid:pk>/", visits.review_decide, name="visit-review-decide"),
    path("visits/compliance/", visits.compliance, name="visit-compliance"),
    path("visits/orphans/", visits.orphan_households, name="visit-orphans"),
    path("visits/<uuid:pk>/photo/", visits.visit_photo, name="visit-photo"),
    path("visits/reassign/", visits.reassign, name="visit-reassign"),
    path("", include("gridgov.cases.api_urls")),
    *router.urls,
]
