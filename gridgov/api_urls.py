"""REST API v1 routes."""

from rest_framework.routers import DefaultRouter

from gridgov.geo import apis as geo
from gridgov.gridding import apis as gridding
from gridgov.households import apis as households

router = DefaultRouter()
router.register("districts", geo.DistrictViewSet, basename="district")
router.register("streets", geo.StreetViewSet, basename="street")
router.register("communities", geo.CommunityViewSet, basename="community")
router.register("grids", geo.GridViewSet, basename="grid")
router.register("areas", geo.AreaViewSet, basename="area")
router.register("buildings", geo.BuildingViewSet, basename="building")
router.register("households", households.HouseholdViewSet, basename="household")
router.register("gridding/plans", gridding.PlanViewSet, basename="gridding-plan")

urlpatterns = router.urls
