"""Reads for gridding: the engine's input built from the ledger, and the live assignment."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.gis.geos import GEOSGeometry
from shapely import wkb
from shapely.geometry.base import BaseGeometry

from gridgov.core.errors import GridgovError
from gridgov.geo.models import Community, ResponsibilityArea
from gridgov.households.models import Household

from .algorithm import BuildingIn, CommunityIn
from .algorithm.projection import Projection
from .algorithm.regrid import PreviousCodes
from .algorithm.stored import StoredCell, StoredPlan, problems_from_json
from .models import Barrier, GriddingPlan, PlanArea, PlanCell, PlanGrid


def to_shapely(geom: GEOSGeometry) -> BaseGeometry:
    return wkb.loads(bytes(geom.wkb))


@dataclass
class EngineInput:
    community: CommunityIn
    projection: Projection
    boundary_lonlat: BaseGeometry
    building_pk: dict[str, int | None]  # engine building id → Building pk (None for pseudo-buildings)
    warnings: list[str] = field(default_factory=list)
    barriers: dict[str, str] = field(default_factory=dict)  # the barriers given (`barrier_set`)


def engine_input(community: Community, *, key_group_weights: dict[str, float] | None = None) -> EngineInput:
    """Active households grouped by building (unit, floor, room order), in a local metric plane.

    Households with no building are grouped by their point into pseudo-buildings and listed as a
    warning: the ledger should link them to a building.
    """
    if community.boundary is None or community.boundary.empty:
        raise GridgovError("gridding.input", detail=f"community {community.code} has no boundary")
    boundary_ll = to_shapely(community.boundary)
    proj = Projection.around(boundary_ll)
    rows = (
        Household.objects.filter(community=community, active=True)
        .order_by("building_id", "unit", "floor", "room", "id")
        .values_list("id", "building_id", "point", "key_groups", "building__point")
    )
    groups: dict[str, list[tuple[int, float]]] = defaultdict(list)
    where: dict[str, tuple[float, float]] = {}
    building_pk: dict[str, int | None] = {}
    orphans = 0
    for hid, bid, point, key_groups, bpoint in rows:
        if bid is not None:
            key = f"b{bid}"
            building_pk[key] = bid
            pt = bpoint
        else:
            orphans += 1
            key = f"p{point.x:.6f},{point.y:.6f}"
            building_pk[key] = None
            pt = point
        weight = 1.0
        if key_group_weights:
            weight += sum(key_group_weights.get(k, 0.0) for k in key_groups)
        groups[key].append((hid, weight))
        where[key] = proj.xy(pt.x, pt.y)
    buildings = [
        BuildingIn(
            id=key,
            x=where[key][0],
            y=where[key][1],
            weights=tuple(w for _, w in hh),
            household_ids=tuple(str(h) for h, _ in hh),
        )
        for key, hh in groups.items()
    ]
    lines = list(Barrier.objects.filter(line__intersects=community.boundary))
    barriers = [proj.to_metric(to_shapely(b.line)) for b in lines]
    warnings = [f"{orphans} active household(s) have no building; grouped by location"] if orphans else []
    return EngineInput(
        CommunityIn(proj.to_metric(boundary_ll), buildings, barriers),
        proj,
        boundary_ll,
        building_pk,
        warnings,
        barrier_set(lines),
    )


def barrier_set(barriers: list[Barrier]) -> dict[str, str]:
    """The barriers a plan is cut along, as a plan keeps them (`GriddingPlan.barriers`): pk → a digest
    of the line as stored (lon/lat WKB), so that a line moved since is told from the one kept."""
    return {str(b.pk): hashlib.sha1(bytes(b.line.wkb)).hexdigest() for b in barriers}


def barriers_changed(plan: GriddingPlan, data: EngineInput) -> str:
    """Why the plan's cells may not follow the barriers near the community as they are now ("" when they
    do): barriers drawn, removed (deleted, or moved off the community) or moved since the plan was made;
    its cells were cut along the barriers of its day. A plan that did not record its barriers (made
    before plans did) can only tell a barrier drawn or changed since near the community."""
    if plan.barriers is None:
        recent = Barrier.objects.filter(
            line__intersects=plan.community.boundary, updated_at__gte=plan.created_at
        )
        return "a barrier drawn or changed since the plan in force" if recent.exists() else ""
    then, now = plan.barriers, data.barriers
    counts = [
        (len(now.keys() - then.keys()), "drawn"),
        (len(then.keys() - now.keys()), "removed"),
        (sum(then[k] != now[k] for k in then.keys() & now.keys()), "moved"),
    ]
    changes = [f"{n} {what}" for n, what in counts if n]
    return f"barriers changed since the plan in force: {', '.join(changes)}" if changes else ""


def live_codes(community: Community, data: EngineInput) -> PreviousCodes:
    """The assignment in force, keyed like the engine input: (building id, household id) → codes."""
    area_codes = dict(ResponsibilityArea.objects.filter(grid__community=community).values_list("id", "code"))
    by_household = dict(
        Household.objects.filter(community=community, active=True, area__isnull=False).values_list(
            "id", "area_id"
        )
    )
    out: PreviousCodes = {}
    for b in data.community.buildings:
        for hid in b.household_ids:
            area_id = by_household.get(int(hid))
            if area_id is not None:
                code = area_codes[area_id]
                out[(b.id, hid)] = (code, code[:15])
    return out


def _metric(geom: GEOSGeometry, proj: Projection) -> BaseGeometry:
    """A kept outline in the metric plane: a MultiPolygon of one part (as every outline is kept) as
    the Polygon the engine made."""
    out = proj.to_metric(to_shapely(geom))
    return out.geoms[0] if out.geom_type == "MultiPolygon" and len(out.geoms) == 1 else out


def plan_in_force(community: Community) -> GriddingPlan | None:
    return GriddingPlan.objects.filter(community=community, status=GriddingPlan.Status.APPROVED).first()


def stored_plan(
    plan: GriddingPlan, data: EngineInput, *, barriers_checked: bool = False
) -> StoredPlan | None:
    """A kept plan as the re-grid reads it, in the engine input's metric plane (cells in number order;
    a plan kept before the cells' links were gets them from the outlines, in the engine). None when the
    barriers near the community changed since the plan was made (`barriers_changed`: its cells were cut
    along the old ones; `barriers_checked`: the caller asked already)."""
    if not barriers_checked and barriers_changed(plan, data):
        return None
    proj = data.projection
    grids = {g.pk: g.code for g in PlanGrid.objects.filter(plan=plan).only("pk", "code")}
    grid_polygons = {
        code: _metric(b, proj)
        for code, b in PlanGrid.objects.filter(plan=plan).values_list("code", "boundary")
    }
    areas: dict[int, tuple[str, str]] = {}
    area_polygons = {}
    for pk, code, grid_id, boundary in PlanArea.objects.filter(plan=plan).values_list(
        "pk", "code", "grid_id", "boundary"
    ):
        areas[pk] = (code, grids[grid_id])
        area_polygons[code] = _metric(boundary, proj)
    rows = list(
        PlanCell.objects.filter(plan=plan)
        .order_by("index", "pk")
        .values_list(
            "index", "area_id", "building_id", "part", "household_ids", "weight", "boundary", "neighbours"
        )
    )
    numbered = [r[0] for r in rows] == list(range(len(rows)))
    cells = []
    for _index, area_id, building_id, part, hids, weight, boundary, neighbours in rows:
        if building_id is None:
            return None  # a pseudo-building (households with no building): keyed by a point, not kept
        code, grid = areas[area_id]
        cells.append(
            StoredCell(
                building=f"b{building_id}",
                part=part,
                household_ids=tuple(str(h) for h in hids),
                weight=weight,
                area=code,
                grid=grid,
                cell=_metric(boundary, proj),
                neighbours=tuple(neighbours) if numbered else None,
            )
        )
    return StoredPlan(
        cells=cells,
        area_polygons=area_polygons,
        grid_polygons=grid_polygons,
        area_grid=dict(areas.values()),
        problems=problems_from_json(plan.problems or []),
    )
