"""Write the synthetic demo city (gridgov.geo.demo_city) into the database in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction
from django.utils import timezone
from shapely.geometry.base import BaseGeometry

from gridgov.core import audit
from gridgov.dispatch.models import Department
from gridgov.households.models import Household
from gridgov.teams.models import Member, MemberType

from .demo_city import DemoCity, generate, read_inputs
from .models import Building, Community, District, Grid, ResponsibilityArea, Street

DEMO_DIR = Path(settings.BASE_DIR) / "geodata" / "yantian"
DEMO_DEPARTMENTS = [
    ("YT-CG", "区城市管理和综合执法局", "Urban Management and Law Enforcement Bureau"),
    ("YT-ZJ", "区住房和建设局", "Housing and Construction Bureau"),
    ("YT-YJ", "区应急管理局", "Emergency Management Bureau"),
    ("YT-MZ", "区民政局", "Civil Affairs Bureau"),
    ("YT-GA", "市公安局盐田分局", "Public Security Sub-bureau"),
    ("YT-SW", "区水务局", "Water Affairs Bureau"),
]


def geos(geom: BaseGeometry) -> GEOSGeometry:
    return GEOSGeometry(memoryview(geom.wkb), srid=4326)


def build_demo_city(*, households: int = 30_000, seed: int | None = None) -> DemoCity:
    outline, divisions = read_inputs(DEMO_DIR)
    kwargs = {"households": households}
    if seed is not None:
        kwargs["seed"] = seed
    return generate(outline, divisions, **kwargs)


@transaction.atomic
def load_demo_city(city: DemoCity, *, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Insert the city below its district (the district and departments are created or updated; callers
    decide about --if-empty/--replace for what lies below)."""
    say = progress or (lambda _msg: None)
    district, _ = District.objects.update_or_create(
        code=city.district_code,
        defaults={"name": city.district_name, "name_en": "Yantian District", "boundary": geos(city.boundary)},
    )
    for code, name, name_en in DEMO_DEPARTMENTS:
        Department.objects.update_or_create(
            code=code, defaults={"name": name, "name_en": name_en, "district": district}
        )
    counts = {
        "streets": 0,
        "communities": 0,
        "grids": 0,
        "areas": 0,
        "buildings": 0,
        "households": 0,
        "members": 0,
    }
    for s in city.streets:
        street = Street.objects.create(
            district=district, code=s.code, name=s.name, boundary=geos(s.boundary), synthetic=True
        )
        counts["streets"] += 1
        for c in s.communities:
            community = Community.objects.create(
                street=street, code=c.code, name=c.name, boundary=geos(c.boundary), synthetic=True
            )
            counts["communities"] += 1
            buildings = Building.objects.bulk_create(
                [
                    Building(
                        code=b.code,
                        community=community,
                        address=b.address,
                        name=b.address,
                        footprint=geos(b.footprint),
                        point=geos(b.point),
                        floors=b.floors,
                        units=b.units,
                        synthetic=True,
                    )
                    for b in c.buildings
                ]
            )
            by_code = {b.code: b for b in buildings}
            area_of_building: dict[str, ResponsibilityArea] = {}
            for g in c.grids:
                leader = Member.objects.create(
                    community=community,
                    name=g.leader_name,
                    synthetic=True,
                    member_type=MemberType.COMMUNITY_CADRE,
                )
                grid = Grid.objects.create(
                    community=community,
                    code=g.code,
                    name=g.name,
                    boundary=geos(g.boundary),
                    leader=leader,
                    synthetic=True,
                )
                members = Member.objects.bulk_create(
                    [
                        Member(
                            community=community,
                            name=a.member_name,
                            synthetic=True,
                            member_type=_member_type(i),
                        )
                        for i, a in enumerate(g.areas)
                    ]
                )
                areas = ResponsibilityArea.objects.bulk_create(
                    [
                        ResponsibilityArea(
                            grid=grid,
                            code=a.code,
                            name=a.name,
                            boundary=geos(a.boundary),
                            member=m,
                            synthetic=True,
                        )
                        for a, m in zip(g.areas, members, strict=True)
                    ]
                )
                for a, area in zip(g.areas, areas, strict=True):
                    for bcode in a.building_codes:
                        area_of_building[bcode] = area
                counts["grids"] += 1
                counts["areas"] += len(areas)
                counts["members"] += len(members) + 1
            rows = []
            for b in c.buildings:
                building = by_code[b.code]
                for h in b.households:
                    rows.append(
                        Household(
                            code=h.code,
                            community=community,
                            building=building,
                            area=area_of_building.get(b.code),
                            unit=h.unit,
                            floor=h.floor,
                            room=h.room,
                            address=f"{b.address}{h.unit}单元{h.room}",
                            point=building.point,
                            residents=h.residents,
                            occupancy=h.occupancy,
                            key_groups=h.key_groups,
                            head_name=h.head_name,
                            phone=h.phone,
                            id_number=h.id_number,
                            synthetic=True,
                        )
                    )
            Household.objects.bulk_create(rows, batch_size=2000)
            if c.grids:
                community.gridded_at = timezone.now()
                community.save(update_fields=["gridded_at"])
            counts["buildings"] += len(buildings)
            counts["households"] += len(rows)
            say(
                f"{c.code} {c.name}: {len(buildings)} buildings, {len(rows)} households, {len(c.grids)} grids"
            )
    audit.record(actor=None, action="demo.load", obj=district, **counts)
    return counts


def _member_type(i: int) -> str:
    cycle = [
        MemberType.RESIDENTS_REP,
        MemberType.RETIRED_PARTY,
        MemberType.IN_SERVICE_PARTY,
        MemberType.VOLUNTEER,
        MemberType.FLOATING_PARTY,
    ]
    return cycle[i % len(cycle)]


class DemoCityInUse(Exception):
    """The demo city holds what cannot be deleted with it (issues: their timelines are append-only)."""


@transaction.atomic
def delete_demo_city(code: str = "440308") -> dict[str, int]:
    """Remove everything under the demo district (the district and its departments stay: users refer to
    them, and loading the demo again updates them in place), in one transaction: the visits to its
    households first (they would block the deletion of the households), then the city, the visit
    rollups' upkeep of the members and areas deleted done once, and the rollups derived again
    (`recompute.rebuild`). Refused (`DemoCityInUse`, nothing deleted) when issues were reported in the
    district: an issue's timeline is append-only (the database refuses to delete its events), so an issue
    is never deleted, and the communities and streets it names cannot go. The household table is held
    first, for the whole transaction (`recompute.hold_households`). Returns how many visits went."""
    from gridgov.cases.models import Case
    from gridgov.visits import recompute, signals
    from gridgov.visits.models import Visit

    issues = Case.objects.filter(district__code=code).count()
    if issues:
        raise DemoCityInUse(
            f"The demo city (district {code}) has {issues} issues: an issue's timeline is append-only, so "
            "issues are never deleted, and the communities and streets they name cannot be replaced. Load "
            "the demo city into an empty database instead (a new database: migrate, then load_demo_city)."
        )
    recompute.hold_households()  # (before the delta table, which the upkeep below takes)
    visits = Visit.objects.filter(household__community__code__startswith=code)
    gone = {"visits": visits.delete()[1].get("visits.Visit", 0)}
    with signals.batched():
        Household.objects.filter(community__code__startswith=code).delete()
        Member.objects.filter(community__code__startswith=code).delete()
        ResponsibilityArea.objects.filter(code__startswith=code).delete()
        Grid.objects.filter(code__startswith=code).delete()
        Building.objects.filter(community__code__startswith=code).delete()
        Community.objects.filter(code__startswith=code).delete()
        Street.objects.filter(code__startswith=code).delete()
    recompute.rebuild()  # (households deleted in bulk: the rollups derived again)
    return gone


def grid_demo_city(
    *, district_code: str = "440308", progress: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Replace the generator's quick partition by gridding plans, approved, and give the demo's idle
    members the areas left without one (a grid leader would do this by hand)."""
    from gridgov.gridding.services import plan_approve, plan_create
    from gridgov.visits import signals

    say = progress or (lambda _msg: None)
    totals = {"grids": 0, "areas": 0}
    for community in Community.objects.filter(code__startswith=district_code).order_by("code"):
        result = plan_create(community=community, actor=None, fresh=True)
        applied = plan_approve(plan=result.plan, actor=None)
        idle = list(Member.objects.filter(community=community, areas__isnull=True, led_grids__isnull=True))
        with signals.batched():  # (the rollups' upkeep of the areas changing hands: once)
            for area in ResponsibilityArea.objects.filter(
                grid__community=community, member__isnull=True
            ).order_by("code"):
                if not idle:
                    break
                area.member = idle.pop()
                area.save(update_fields=["member"])
        totals["grids"] += applied.grids
        totals["areas"] += applied.areas
        say(
            f"{community.code} {community.name}: {applied.grids} grids, {applied.areas} areas, "
            f"in range {result.quality['areas_in_range']:.1%}"
        )
    from gridgov.visits import recompute

    recompute.rebuild()  # the loader writes households in bulk: derive the visit rollups once
    return totals
