"""Home page per role and the map page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from gridgov.accounts import scoping
from gridgov.accounts.models import Role
from gridgov.geo.models import Building, Community, Grid, ResponsibilityArea, Street
from gridgov.households.models import Household, KeyGroup


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    scope = scoping.scope_of(user)
    households = scoping.households(user, Household.objects.filter(active=True))
    counts = {
        "streets": scoping.visible_nodes(user, Street.objects.all()).count(),
        "communities": scoping.visible_nodes(user, Community.objects.all()).count(),
        "grids": scoping.visible_nodes(user, Grid.objects.all()).count(),
        "areas": scoping.visible_nodes(user, ResponsibilityArea.objects.all()).count(),
        "buildings": scoping.buildings(user, Building.objects.all()).count(),
    }
    key_groups = []
    if scope.households:
        agg = households.aggregate(
            total=Count("id"),
            **{kg.value: Count("id", filter=Q(key_groups__contains=[kg.value])) for kg in KeyGroup},
        )
        counts["households"] = agg.pop("total")
        key_groups = [(KeyGroup(k).label, v) for k, v in agg.items() if v]
    my_areas = []
    if user.role == Role.MEMBER and getattr(user, "member", None):
        my_areas = list(
            user.member.areas.select_related("grid").annotate(
                n=Count("households", filter=Q(households__active=True))
            )
        )
    return render(
        request,
        "maps/home.html",
        {
            "counts": counts,
            "key_groups": key_groups,
            "scope": scope,
            "role": Role(user.role).label if user.role in Role.values else "",
            "my_areas": my_areas,
        },
    )


@login_required
def map_page(request: HttpRequest) -> HttpResponse:
    labels = {
        "streets": str(_("Street offices")),
        "communities": str(_("Communities")),
        "grids": str(_("Grids")),
        "areas": str(_("Responsibility areas")),
        "buildings": str(_("Buildings")),
        "households": str(_("households")),
        "member": str(_("Member")),
        "leader": str(_("Grid leader")),
        "loaded": str(_("Loaded.")),
        "failed": str(_("Could not load map data.")),
        "zoom_buildings": str(_("Zoom in to see buildings.")),
        "none": str(_("none")),
    }
    return render(request, "maps/map.html", {"map_labels": labels})
