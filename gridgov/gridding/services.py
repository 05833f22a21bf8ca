"""Writes for gridding: make a plan, adjust it, approve it (apply to the hierarchy), restore one.

Every function is one transaction and writes an audit row. Views, the API and the
`grid_community` command all call these.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.gis.db.models import Union
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from shapely.geometry import MultiPolygon as ShapelyMultiPolygon
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

from gridgov.core import audit
from gridgov.core.errors import GridgovError
from gridgov.geo.models import Community, Grid, ResponsibilityArea
from gridgov.households.models import Household

from .algorithm import CodeSpaceError, Config, GriddingInputError, plan_community
from .algorithm.engine import AREA_CODES, GRID_CODES
from .algorithm.model import Plan
from .algorithm.quality import Quality, measure
from .algorithm.regrid import heirs_by_votes, kept_share, regrid
from .checks import compactness, recheck
from .models import GriddingPlan, PlanArea, PlanCell, PlanGrid
from .selectors import (
    EngineInput,
    barriers_changed,
    engine_input,
    live_codes,
    plan_in_force,
    stored_plan,
)

SLIVER_M2 = 1.0  # polygon parts smaller than this are rounding debris, not territory


@dataclass(frozen=True)
class GriddingSettings:
    area_min: float = 15
    area_max: float = 20
    grid_min: float = 100
    grid_max: float = 300
    # Extra workload per household in a key group, e.g. {"elderly_alone": 0.5}; empty = count households.
    key_group_weights: dict[str, float] = field(default_factory=dict)

    def problems(self) -> dict[str, list[str]]:
        """What makes these ranges unusable, by field (empty when they can be gridded). The engine is
        never run with them otherwise: a reversed or zero range made it loop or divide by zero."""
        out: dict[str, list[str]] = {}
        values = {"area_min": self.area_min, "area_max": self.area_max}
        values |= {"grid_min": self.grid_min, "grid_max": self.grid_max}
        for name, value in values.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 1:
                out.setdefault(name, []).append(_("A number of households of at least 1."))
        if out:
            return out
        if self.area_min > self.area_max:
            out["area_max"] = [_("The largest area must not be smaller than the smallest.")]
        if self.grid_min > self.grid_max:
            out["grid_max"] = [_("The largest grid must not be smaller than the smallest.")]
        if self.grid_max < self.area_max:
            out.setdefault("grid_max", []).append(_("A grid must be able to hold the largest area."))
        return out

    def engine_config(self) -> Config:
        return Config(
            area_min=self.area_min, area_max=self.area_max, grid_min=self.grid_min, grid_max=self.grid_max
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GriddingSettings:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class PlanResult:
    plan: GriddingPlan | None
    engine_plan: Plan
    quality: dict[str, Any]
    problems: list[dict[str, Any]]
    warnings: list[str]


def _geos(geom: BaseGeometry) -> GEOSGeometry:
    return GEOSGeometry(memoryview(geom.wkb), srid=4326)


def _multi(geom: BaseGeometry, clip: BaseGeometry, proj: Any) -> MultiPolygon:
    """Metric polygon → lon/lat MultiPolygon clipped to the community; slivers dropped."""
    parts = [
        p for p in getattr(geom, "geoms", [geom]) if isinstance(p, ShapelyPolygon) and p.area >= SLIVER_M2
    ]
    if not parts and not geom.is_empty:
        parts = [max(getattr(geom, "geoms", [geom]), key=lambda p: p.area)]
    ll = proj.to_lonlat(ShapelyMultiPolygon(parts)).intersection(clip)
    polys = [p for p in getattr(ll, "geoms", [ll]) if isinstance(p, ShapelyPolygon) and not p.is_empty]
    # Clipping to the exact boundary can leave crumbs along it: keep parts of at least SLIVER_M2.
    polys = [p for p in polys if proj.to_metric(p).area >= SLIVER_M2] or polys[:1]
    return MultiPolygon([_geos(p) for p in polys], srid=4326)


def plan_compute(
    community: Community, settings: GriddingSettings, *, fresh: bool = False
) -> tuple[EngineInput, Plan, dict[str, Any], bool]:
    """Run the engine (a stable re-grid when the community already has areas, unless `fresh`)."""
    data = engine_input(community, key_group_weights=settings.key_group_weights or None)
    config = settings.engine_config()
    previous = {} if fresh else live_codes(community, data)
    # The plan in force, when made with these settings: a re-grid with no change gives it back as it is.
    current = plan_in_force(community) if previous else None
    stored, why = None, ""
    ranges_changed = current is not None and GriddingSettings.from_json(current.config) != settings
    if current is not None and not ranges_changed:
        # Barriers drawn, removed or moved since: the plan in force's cells are not kept at all.
        why = barriers_changed(current, data)
        stored = None if why else stored_plan(current, data, barriers_checked=True)
    try:
        if previous:
            # Only the change's region rebuilt when the plan in force can be read (`algorithm/local.py`):
            # the full rebuild when it cannot, or when the region is too big or falls short of it.
            engine_plan = regrid(
                data.community,
                previous,
                config,
                code=community.code,
                check_codes=True,
                stored=stored,
                incremental=True,
                ranges_changed=ranges_changed,
            )
        else:
            engine_plan = plan_community(data.community, config, code=community.code, check_codes=True)
    except GriddingInputError as exc:
        raise GridgovError("gridding.input", detail=str(exc)) from exc
    except CodeSpaceError as exc:
        raise GridgovError(
            "gridding.codes",
            community=f"{community.code} {community.name}",
            grids=exc.grids,
            areas=exc.areas,
            max_grids=GRID_CODES,
            max_areas=AREA_CODES,
        ) from exc
    # (the re-grid measured the plan it chose, against this boundary and config)
    measured = engine_plan.measured
    quality = (
        measured if isinstance(measured, Quality) else measure(engine_plan, data.community.boundary, config)
    ).as_dict()
    if previous:
        quality["kept_same_area"], quality["kept_same_grid"] = kept_share(previous, engine_plan)
        # Which way the re-grid went ("stored", "incremental", "full", and why not incremental).
        if why and engine_plan.regrid_path == "full":  # (not offered the plan in force: say why)
            engine_plan.regrid_path = f"full ({why})"
        quality["regrid_path"] = engine_plan.regrid_path
    return data, engine_plan, quality, bool(previous)


@transaction.atomic
def plan_create(
    *,
    community: Community,
    actor: Any,
    settings: GriddingSettings | None = None,
    fresh: bool = False,
    save: bool = True,
) -> PlanResult:
    """Compute a plan for `community` and keep it as a draft (unless `save` is False: a dry run)."""
    settings = settings or GriddingSettings()
    wrong = settings.problems()
    if wrong:
        raise GridgovError("gridding.settings", detail=" ".join(m for ms in wrong.values() for m in ms))
    data, engine_plan, quality, was_regrid = plan_compute(community, settings, fresh=fresh)
    problems = _with_names(_with_geometry([asdict(p) for p in engine_plan.problems], data))
    if not save:
        return PlanResult(None, engine_plan, quality, problems, data.warnings)
    current = GriddingPlan.objects.filter(community=community, status=GriddingPlan.Status.APPROVED).first()
    plan = GriddingPlan.objects.create(
        community=community,
        method="regrid" if was_regrid else "fresh",
        based_on=current,
        created_by=_user(actor),
        config=asdict(settings),
        quality=quality,
        problems=problems,
        barriers=data.barriers,
    )
    _store(plan, data, engine_plan)
    audit.record(
        actor=actor,
        action="gridding.plan_create",
        obj=plan,
        community=community.code,
        areas=engine_plan.n_areas,
        grids=engine_plan.n_grids,
    )
    return PlanResult(plan, engine_plan, quality, problems, data.warnings)


def _with_geometry(problems: list[dict[str, Any]], data: EngineInput) -> list[dict[str, Any]]:
    """Attach the outline of each infeasible block (lon/lat GeoJSON) so the map can highlight it."""
    import json

    from .algorithm.tessellate import blocks_of

    wanted = [p for p in problems if p["kind"] == "infeasible_block"]
    if not wanted:
        return problems
    blocks = blocks_of(data.community)
    for p in wanted:
        b = int(p["where"][0].split(":")[1])
        if 0 <= b < len(blocks):
            p["geometry"] = json.loads(_geos(data.projection.to_lonlat(blocks[b])).geojson)
    return problems


def _with_names(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Name the buildings an alternative moves by their address (the engine knows only their ids:
    `b<pk>` for a building of the ledger, as `selectors.engine_input` and `checks` key them)."""
    from gridgov.geo.models import Building

    steps = [
        s
        for p in problems
        for s in ((p.get("params") or {}).get("alternative") or {}).get("steps", ())
        if s.get("op") == "move" and "building_name" not in s
    ]
    pks = {s["building"]: _building_pk(str(s["building"])) for s in steps}
    names = dict(
        Building.objects.filter(pk__in=[pk for pk in pks.values() if pk]).values_list("pk", "address")
    )
    for s in steps:
        name = names.get(pks[s["building"]])
        if name:
            s["building_name"] = name
    return problems


def _building_pk(key: str) -> int | None:
    return int(key[1:]) if key[:1] == "b" and key[1:].isdigit() else None


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _store(plan: GriddingPlan, data: EngineInput, ep: Plan) -> None:
    proj, clip = data.projection, data.boundary_lonlat
    area_hh = Counter()
    area_w = Counter()
    for it, a in zip(ep.items, ep.area_of, strict=True):
        area_hh[a] += it.count
        area_w[a] += it.weight
    grid_hh: Counter = Counter()
    grid_w: Counter = Counter()
    for a, g in enumerate(ep.grid_of_area):
        grid_hh[g] += area_hh[a]
        grid_w[g] += area_w[a]
    grids = PlanGrid.objects.bulk_create(
        [
            PlanGrid(
                plan=plan,
                code=code,
                boundary=_multi(ep.grid_polygons[g], clip, proj),
                households=grid_hh[g],
                weight=grid_w[g],
            )
            for g, code in enumerate(ep.grid_codes)
        ]
    )
    # Each area's compactness, as `quality.measure` takes it, so that adjustments can update the figures.
    pp = compactness(ep.area_polygons) if len(ep.area_polygons) == ep.n_areas else [(None, None)] * ep.n_areas
    areas = PlanArea.objects.bulk_create(
        [
            PlanArea(
                plan=plan,
                grid=grids[ep.grid_of_area[a]],
                code=code,
                boundary=_multi(ep.area_polygons[a], clip, proj),
                households=area_hh[a],
                weight=area_w[a],
                pp=pp[a][0],
                hull_pp=pp[a][1],
            )
            for a, code in enumerate(ep.area_codes)
        ]
    )
    ids = {b.id: b.household_ids for b in data.community.buildings}
    cells = ep.item_cells
    # The cells' links, by cell number (a plan without them is linked from the outlines when adjusted).
    links = ep.links if len(ep.links) == len(ep.items) else None
    PlanCell.objects.bulk_create(
        [
            PlanCell(
                plan=plan,
                area=areas[a],
                building_id=data.building_pk.get(it.building),
                part=it.part,
                household_ids=[int(h) for h in ids[it.building][it.first : it.first + it.count]],
                weight=it.weight,
                boundary=_multi(cell, clip, proj),
                index=k if links is not None else None,
                neighbours=sorted(links[k]) if links is not None else [],
            )
            for k, (it, a, cell) in enumerate(zip(ep.items, ep.area_of, cells, strict=True))
        ],
        batch_size=2000,
    )
    _suggest_people(plan)


def _suggest_people(plan: GriddingPlan) -> None:
    """Members and leaders carried over: an area takes the member of the live area most of its
    households belonged to (`regrid.heirs_by_votes`: the live area with its code when that is where
    most of them were, so a renumbered area keeps its member and a freed code does not pass its member
    on to other households), and only if it holds at least half of that area's households still there
    (`regrid.MEMBER_MIN_SHARE`: a member whose households are spread is left for staff to place, the
    area listed unassigned); a grid takes the leader of a live grid by the same rule, on its
    households' grids (a grid keeping its code but few of its households does not keep the leader)."""
    live_areas = {a.code: a for a in ResponsibilityArea.objects.filter(grid__community=plan.community)}
    live_grids = {g.code: g for g in Grid.objects.filter(community=plan.community)}
    household_area = dict(
        Household.objects.filter(community=plan.community, area__isnull=False).values_list("id", "area__code")
    )
    areas = list(plan.areas.select_related("grid").prefetch_related("cells"))
    grids = {g.pk: g for g in plan.grids.all()}
    grid_votes: dict[int, Counter] = {pk: Counter() for pk in grids}
    area_votes: list[Counter] = []
    for area in areas:
        votes = Counter(household_area.get(h) for c in area.cells.all() for h in c.household_ids)
        votes.pop(None, None)
        area_votes.append(votes)
        grid_votes[area.grid_id].update({code[:15]: n for code, n in votes.items()})
    for area, heir in zip(
        areas, heirs_by_votes([a.code for a in areas], area_votes, set(live_areas)), strict=True
    ):
        if heir:
            area.member_id = live_areas[heir].member_id
    plan_grids = list(grids.values())
    for grid, heir in zip(
        plan_grids,
        heirs_by_votes([g.code for g in plan_grids], [grid_votes[g.pk] for g in plan_grids], set(live_grids)),
        strict=True,
    ):
        grid.leader_id = live_grids[heir].leader_id if heir else None
    PlanArea.objects.bulk_update(areas, ["member"])
    PlanGrid.objects.bulk_update(list(grids.values()), ["leader"])


def _require_draft(plan: GriddingPlan) -> None:
    if plan.status != GriddingPlan.Status.DRAFT:
        raise GridgovError("gridding.not_draft", detail=plan.get_status_display())


@dataclass
class ApplyResult:
    areas: int
    grids: int
    unassigned_areas: list[str]
    grids_without_leader: list[str]


@transaction.atomic
def plan_approve(*, plan: GriddingPlan, actor: Any) -> ApplyResult:
    """Put a draft plan in force: grids, areas and every active household's area, in one transaction."""
    plan = GriddingPlan.objects.select_for_update().get(pk=plan.pk)
    _require_draft(plan)
    # (no key: a household inserted or moved into the community checks its foreign key with a key-share
    # lock on this row, while holding its own row, which the approval waits for below)
    community = Community.objects.select_for_update(no_key=True).get(pk=plan.community_id)
    from gridgov.visits import signals  # compliance follows households into their new areas

    # The locks in the order of every writer of the rollups and of area rows (README, Visits): every
    # household of the community first, in id order, as a sync batch locks its households (the updates
    # below, area by area, would lock them in another order: a batch could deadlock with them); then the
    # delta table, the pending deltas folded and new ones held off (a delta of a deleted area folded
    # afterwards would write a rollup row for it), before any area row is written (an admin's change of an
    # area takes the delta table before the area's row: it waits for this approval, or this for it, never
    # each for the other). The upkeep of the areas saved and deleted below is collected and done once
    # (`batched`: the households refreshed, the dashboard rows of areas that changed hands or went).
    with signals.batched() as batch:
        households = list(Household.objects.filter(community=community).values_list("id", flat=True))
        batch.prepare(households)
        batch.households.update(households)
        cells = PlanCell.objects.filter(plan=plan).values_list("household_ids", flat=True)
        planned = {h for ids in cells for h in ids}
        active = set(Household.objects.filter(community=community, active=True).values_list("id", flat=True))
        if planned != active:
            raise GridgovError(
                "gridding.stale",
                detail=_("{new} new, {gone} gone").format(
                    new=len(active - planned), gone=len(planned - active)
                ),
            )
        multipart = [a.code for a in plan.areas.all() if len(a.boundary) != 1]
        multipart += [g.code for g in plan.grids.all() if len(g.boundary) != 1]
        if multipart:
            raise GridgovError("gridding.multipart", detail=", ".join(multipart[:10]))
        live_grids = {g.code: g for g in Grid.objects.filter(community=community)}
        live_areas = {a.code: a for a in ResponsibilityArea.objects.filter(grid__community=community)}
        grid_rows: dict[str, Grid] = {}
        for pg in plan.grids.all():
            g = live_grids.get(pg.code) or Grid(community=community, code=pg.code)
            g.name = g.name or f"{community.name.removesuffix('居委会')}第{int(pg.code[-3:])}网格"
            g.boundary = pg.boundary[0]
            g.leader_id = pg.leader_id
            g.save()
            grid_rows[pg.code] = g
        unassigned = []
        for pa in plan.areas.select_related("grid").prefetch_related("cells"):
            a = live_areas.get(pa.code) or ResponsibilityArea(code=pa.code)
            a.grid = grid_rows[pa.grid.code]
            a.name = a.name if a.pk else f"{a.grid.name}-{int(pa.code[-2:])}"
            a.boundary = pa.boundary[0]
            a.member_id = pa.member_id
            a.save()
            if pa.member_id is None:
                unassigned.append(pa.code)
            ids = [h for c in pa.cells.all() for h in c.household_ids]
            Household.objects.filter(id__in=ids).update(area=a)
        plan_area_codes = set(plan.areas.values_list("code", flat=True))
        ResponsibilityArea.objects.filter(grid__community=community).exclude(
            code__in=plan_area_codes
        ).delete()
        Grid.objects.filter(community=community).exclude(code__in=grid_rows).delete()
    GriddingPlan.objects.filter(community=community, status=GriddingPlan.Status.APPROVED).update(
        status=GriddingPlan.Status.SUPERSEDED
    )
    plan.status, plan.approved_by, plan.approved_at = (
        GriddingPlan.Status.APPROVED,
        _user(actor),
        timezone.now(),
    )
    plan.save(update_fields=["status", "approved_by", "approved_at"])
    community.gridded_at = timezone.now()
    community.save(update_fields=["gridded_at"])
    no_leader = [code for code, g in grid_rows.items() if g.leader_id is None]
    audit.record(
        actor=actor,
        action="gridding.plan_approve",
        obj=plan,
        community=community.code,
        areas=len(plan_area_codes),
        grids=len(grid_rows),
        unassigned=unassigned,
    )
    return ApplyResult(len(plan_area_codes), len(grid_rows), unassigned, no_leader)


@transaction.atomic
def plan_discard(*, plan: GriddingPlan, actor: Any) -> None:
    _require_draft(plan)
    plan.status = GriddingPlan.Status.DISCARDED
    plan.save(update_fields=["status"])
    audit.record(actor=actor, action="gridding.plan_discard", obj=plan)


@transaction.atomic
def plan_restore(*, plan: GriddingPlan, actor: Any) -> GriddingPlan:
    """A new draft that copies an earlier plan (approve it to put it back in force)."""
    copy = GriddingPlan.objects.create(
        community=plan.community,
        method="restore",
        based_on=plan,
        created_by=_user(actor),
        config=plan.config,
        quality=plan.quality,
        problems=plan.problems,
        barriers=plan.barriers,  # (the cells copied were cut along those)
    )
    grids = {}
    for g in plan.grids.all():
        grids[g.pk] = PlanGrid.objects.create(
            plan=copy,
            code=g.code,
            boundary=g.boundary,
            households=g.households,
            weight=g.weight,
            leader_id=g.leader_id,
        )
    for a in plan.areas.all():
        na = PlanArea.objects.create(
            plan=copy,
            grid=grids[a.grid_id],
            code=a.code,
            boundary=a.boundary,
            households=a.households,
            weight=a.weight,
            member_id=a.member_id,
            pp=a.pp,
            hull_pp=a.hull_pp,
        )
        PlanCell.objects.bulk_create(
            [
                PlanCell(
                    plan=copy,
                    area=na,
                    building_id=c.building_id,
                    part=c.part,
                    household_ids=c.household_ids,
                    weight=c.weight,
                    boundary=c.boundary,
                    index=c.index,
                    neighbours=c.neighbours,
                )
                for c in a.cells.all()
            ]
        )
    audit.record(actor=actor, action="gridding.plan_restore", obj=copy, restored=plan.pk)
    return copy


# --- Adjustments by hand -------------------------------------------------------------------------
# Each public adjustment locks the plan, changes it, checks its problems and quality again
# (`checks.recheck`, stored in the same transaction) and returns the sizes of what it touched with the
# plan's problems and quality as they are now.


@dataclass
class _Touched:
    """What an adjustment changed: areas and grids whose members changed (codes, gone or new included)
    and, in order, the areas and grids to report the sizes of."""

    areas: set[str] = field(default_factory=set)
    grids: set[str] = field(default_factory=set)  # grids whose areas changed
    totals: set[str] = field(default_factory=set)  # grids whose total changed
    shown: list[str] = field(default_factory=list)
    shown_grids: list[str] = field(default_factory=list)

    def area(self, *areas: PlanArea) -> None:
        for a in areas:
            self.areas.add(a.code)
            self.grids.add(a.grid.code)
            if a.code not in self.shown:
                self.shown.append(a.code)

    def grid(self, *grids: PlanGrid) -> None:
        for g in grids:
            self.grids.add(g.code)
            if g.code not in self.shown_grids:
                self.shown_grids.append(g.code)


def _locked(plan: GriddingPlan) -> GriddingPlan:
    plan = GriddingPlan.objects.select_for_update().select_related("community").get(pk=plan.pk)
    _require_draft(plan)
    return plan


def _adjusted(plan: GriddingPlan, touched: _Touched) -> dict[str, Any]:
    """Problems and quality checked again and stored; the answer of every adjustment."""
    config = GriddingSettings.from_json(plan.config).engine_config()
    recheck(plan, touched.areas, touched.grids, touched.totals, config)
    plan.problems = _with_names(plan.problems)
    plan.save(update_fields=["problems", "quality", "updated_at"])
    return {
        "sizes": _sizes(plan, touched.shown, touched.shown_grids),
        "problems": plan.problems,
        "quality": plan.quality,
    }


@transaction.atomic
def plan_move_cell(*, plan: GriddingPlan, cell: PlanCell, to_area: PlanArea, actor: Any) -> dict[str, Any]:
    """Move a building (cell) to a neighbouring area of the same draft.

    The move is refused when the cell does not border the target area or when it would leave its
    own area empty; sizes outside the range are allowed but reported as problems (with their nearest
    alternative), so staff can fix them in steps. Returns the sizes of both areas, the plan's problems
    and its quality."""
    plan = _locked(plan)
    touched = _Touched()
    source = _move_cell(plan, cell, to_area, touched)
    audit.record(
        actor=actor,
        action="gridding.plan_move",
        obj=plan,
        cell=cell.pk,
        source=source,
        target=to_area.code,
    )
    return _adjusted(plan, touched)


def _move_cell(plan: GriddingPlan, cell: PlanCell, to_area: PlanArea, touched: _Touched) -> str:
    """The move itself (the plan locked); returns the code of the area the cell left."""
    cell = PlanCell.objects.select_related("area__grid").filter(pk=cell.pk, plan=plan).first()
    to_area = PlanArea.objects.select_related("grid").filter(pk=to_area.pk, plan=plan).first()
    if cell is None or to_area is None:
        raise GridgovError("gridding.not_adjacent")
    source = cell.area
    if source.pk == to_area.pk:
        touched.area(source)
        return source.code
    # Intersects includes touching: sharing a border is what makes the two neighbours.
    if not PlanArea.objects.filter(pk=to_area.pk, boundary__intersects=cell.boundary).exists():
        raise GridgovError("gridding.not_adjacent")
    if source.cells.count() == 1:
        raise GridgovError(
            "gridding.range",
            detail=_("Moving the only building would leave its area empty; merge the areas instead."),
        )
    cell.area = to_area
    cell.save(update_fields=["area"])
    _refresh(plan, [source, to_area])
    touched.area(source, to_area)
    if source.grid_id != to_area.grid_id:
        touched.totals |= {source.grid.code, to_area.grid.code}
    return source.code


def _refresh(plan: GriddingPlan, areas: list[PlanArea]) -> None:
    """Recompute the polygons and sizes of `areas` and of their grids from their cells."""
    grids = set()
    for area in areas:
        agg = area.cells.aggregate(geom=Union("boundary"), n=Sum("household_ids__len"), w=Sum("weight"))
        area.boundary = _as_multi(agg["geom"])
        area.households, area.weight = agg["n"] or 0, agg["w"] or 0.0
        area.save(update_fields=["boundary", "households", "weight"])
        grids.add(area.grid_id)
    _refresh_grids(grids)


def _refresh_grids(pks: set[int]) -> None:
    for grid in PlanGrid.objects.filter(pk__in=pks):
        agg = grid.areas.aggregate(geom=Union("boundary"), n=Sum("households"), w=Sum("weight"))
        grid.boundary = _as_multi(agg["geom"])
        grid.households, grid.weight = agg["n"] or 0, agg["w"] or 0.0
        grid.save(update_fields=["boundary", "households", "weight"])


def _as_multi(geom: GEOSGeometry) -> MultiPolygon:
    if geom.geom_type == "MultiPolygon":
        return geom
    return MultiPolygon([geom], srid=4326)


def _sizes(plan: GriddingPlan, areas: list[str], grids: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """Sizes of the areas (and grids) by code, in the order given; codes no longer in the plan left out."""
    cfg = GriddingSettings.from_json(plan.config)
    out: dict[str, Any] = {}
    for level, model, codes, lo, hi in (
        ("area", PlanArea, areas, cfg.area_min, cfg.area_max),
        ("grid", PlanGrid, grids, cfg.grid_min, cfg.grid_max),
    ):
        rows = {r.code: r for r in model.objects.filter(plan=plan, code__in=codes)}
        for code in codes:
            if code in rows:
                r = rows[code]
                out[code] = {
                    "level": level,
                    "households": r.households,
                    "weight": r.weight,
                    "in_range": lo <= r.weight <= hi,
                    "pieces": len(r.boundary),
                }
    return out


@transaction.atomic
def plan_merge_areas(*, plan: GriddingPlan, area: PlanArea, other: PlanArea, actor: Any) -> dict[str, Any]:
    """Merge `other` into `area` (neighbours in the same grid); the merged size is reported as a problem
    if out of range. Returns the merged area's size, the plan's problems and its quality."""
    plan = _locked(plan)
    touched = _Touched()
    gone = _merge_areas(plan, area, other, touched)
    audit.record(actor=actor, action="gridding.plan_merge", obj=plan, kept=area.code, merged=gone)
    return _adjusted(plan, touched)


def _merge_areas(plan: GriddingPlan, area: PlanArea, other: PlanArea, touched: _Touched) -> str:
    area = PlanArea.objects.select_related("grid").filter(pk=area.pk, plan=plan).first()
    other = PlanArea.objects.select_related("grid").filter(pk=other.pk, plan=plan).first()
    if area is None or other is None or area.pk == other.pk:
        raise GridgovError("gridding.not_adjacent")
    if area.grid_id != other.grid_id:
        raise GridgovError("gridding.range", detail=_("Only areas of the same grid can be merged."))
    if not PlanArea.objects.filter(pk=area.pk, boundary__intersects=other.boundary).exists():
        raise GridgovError("gridding.not_adjacent", message=_("The two areas do not share a border."))
    other.cells.update(area=area)
    gone = other.code
    touched.areas.add(gone)
    other.delete()
    _refresh(plan, [area])
    touched.area(area)
    return gone


@transaction.atomic
def plan_split_area(*, plan: GriddingPlan, area: PlanArea, actor: Any) -> dict[str, Any]:
    """Cut an area of several buildings in two connected halves of nearly equal workload. Returns the
    sizes of both halves, the plan's problems and its quality."""
    plan = _locked(plan)
    touched = _Touched()
    new = _split_area(plan, area, touched)
    audit.record(actor=actor, action="gridding.plan_split", obj=plan, area=area.code, new=new)
    return _adjusted(plan, touched)


def _split_area(plan: GriddingPlan, area: PlanArea, touched: _Touched) -> str:
    from .algorithm.repair import components
    from .selectors import to_shapely

    area = PlanArea.objects.select_related("grid").filter(pk=area.pk, plan=plan).first()
    if area is None:
        raise GridgovError("gridding.not_adjacent")
    cells = list(area.cells.all())
    if len(cells) < 2:
        raise GridgovError(
            "gridding.range", detail=_("An area of one building cannot be split; move households instead.")
        )
    shapes = [to_shapely(c.boundary) for c in cells]
    adj = [
        {j for j in range(len(cells)) if j != i and shapes[i].intersection(shapes[j]).length > 0}
        for i in range(len(cells))
    ]
    # Sweep along the longer side of the area; take the most balanced cut whose halves are connected.
    minx, miny, maxx, maxy = to_shapely(area.boundary).bounds
    horizontal = (maxx - minx) >= (maxy - miny)
    order = sorted(
        range(len(cells)), key=lambda i: shapes[i].centroid.x if horizontal else shapes[i].centroid.y
    )
    total = sum(c.weight for c in cells)
    best: tuple[float, int] | None = None
    acc = 0.0
    for k in range(1, len(order)):
        acc += cells[order[k - 1]].weight
        left, right = order[:k], order[k:]
        if len(components(left, adj)) == 1 and len(components(right, adj)) == 1:
            score = abs(total - 2 * acc)
            if best is None or score < best[0]:
                best = (score, k)
    if best is None:
        raise GridgovError("gridding.range", detail=_("No cut leaves both halves in one piece."))
    new = PlanArea.objects.create(
        plan=plan, grid=area.grid, code=_free_codes(plan, area.grid)[0], boundary=area.boundary
    )
    PlanCell.objects.filter(pk__in=[cells[i].pk for i in order[best[1] :]]).update(area=new)
    _refresh(plan, [area, new])
    touched.area(area, new)
    return new.code


def _free_codes(plan: GriddingPlan, grid: PlanGrid, count: int = 1) -> list[str]:
    """The first `count` area codes of `grid` (its code and two digits) not used in the plan."""
    used = set(PlanArea.objects.filter(plan=plan, grid=grid).values_list("code", flat=True))
    free = [f"{grid.code}{n:02d}" for n in range(1, 100) if f"{grid.code}{n:02d}" not in used][:count]
    if len(free) < count:
        raise GridgovError(
            "gridding.range", detail=_("Grid {grid} has no area code left.").format(grid=grid.code)
        )
    return free


@transaction.atomic
def plan_move_area(*, plan: GriddingPlan, area: PlanArea, to_grid: PlanGrid, actor: Any) -> dict[str, Any]:
    """Move an area to a neighbouring grid; it takes the first free code of that grid (its member stays).
    Refused when the area does not border the grid or is the last of its own. Returns the sizes of
    both grids, the plan's problems and its quality."""
    plan = _locked(plan)
    touched = _Touched()
    old, new = _move_area(plan, area, to_grid, touched)
    audit.record(
        actor=actor, action="gridding.plan_move_area", obj=plan, area=old, new=new, grid=to_grid.code
    )
    return _adjusted(plan, touched)


def _move_area(plan: GriddingPlan, area: PlanArea, to_grid: PlanGrid, touched: _Touched) -> tuple[str, str]:
    area = PlanArea.objects.select_related("grid").filter(pk=area.pk, plan=plan).first()
    to_grid = PlanGrid.objects.filter(pk=to_grid.pk, plan=plan).first()
    if area is None or to_grid is None:
        raise GridgovError("gridding.not_adjacent")
    source = area.grid
    if source.pk == to_grid.pk:
        touched.grid(source)
        return area.code, area.code
    if not PlanGrid.objects.filter(pk=to_grid.pk, boundary__intersects=area.boundary).exists():
        raise GridgovError(
            "gridding.range",
            detail=_("Area {area} does not border grid {grid}.").format(area=area.code, grid=to_grid.code),
        )
    if source.areas.count() == 1:
        raise GridgovError(
            "gridding.range",
            detail=_("Moving the only area would leave its grid empty; merge the grids instead."),
        )
    old = area.code
    touched.areas.add(old)
    area.grid, area.code = to_grid, _free_codes(plan, to_grid)[0]
    area.save(update_fields=["grid", "code"])
    _refresh_grids({source.pk, to_grid.pk})
    touched.areas.add(area.code)
    touched.grid(source, to_grid)
    touched.totals |= {source.code, to_grid.code}
    return old, area.code


@transaction.atomic
def plan_merge_grids(*, plan: GriddingPlan, grid: PlanGrid, into: PlanGrid, actor: Any) -> dict[str, Any]:
    """Merge `grid` into the neighbouring grid `into`: its areas move there with new codes of that grid
    (their members stay). Returns the merged grid's size, the plan's problems and its quality."""
    plan = _locked(plan)
    touched = _Touched()
    gone = _merge_grids(plan, grid, into, touched)
    audit.record(actor=actor, action="gridding.plan_merge_grids", obj=plan, kept=into.code, merged=gone)
    return _adjusted(plan, touched)


def _merge_grids(plan: GriddingPlan, grid: PlanGrid, into: PlanGrid, touched: _Touched) -> str:
    grid = PlanGrid.objects.filter(pk=grid.pk, plan=plan).first()
    into = PlanGrid.objects.filter(pk=into.pk, plan=plan).first()
    if grid is None or into is None or grid.pk == into.pk:
        raise GridgovError("gridding.not_adjacent")
    if not PlanGrid.objects.filter(pk=into.pk, boundary__intersects=grid.boundary).exists():
        raise GridgovError(
            "gridding.range",
            detail=_("Grid {grid} does not border grid {other}.").format(grid=grid.code, other=into.code),
        )
    areas = list(grid.areas.order_by("code"))
    for area, code in zip(areas, _free_codes(plan, into, len(areas)), strict=True):
        touched.areas |= {area.code, code}
        area.grid, area.code = into, code
    PlanArea.objects.bulk_update(areas, ["grid", "code"])
    gone = grid.code
    touched.grids.add(gone)
    grid.delete()
    _refresh_grids({into.pk})
    touched.grid(into)
    touched.totals |= {gone, into.code}
    return gone


@transaction.atomic
def plan_apply_alternative(
    *, plan: GriddingPlan, index: int, actor: Any, code: str | None = None, token: str | None = None
) -> dict[str, Any]:
    """Apply the nearest alternative of the plan's problem number `index` (an area or a grid out of
    range, named `code` if given, its alternative the one `token` fingerprints if given): an area's
    cells moved and areas merged, a grid's areas moved and grids merged, as the engine proposed, with
    the plan's own adjustments, in one transaction; refused if the plan changed since so that a step no
    longer applies or the sizes would differ from those it said. Returns the sizes of the areas (grids)
    involved, the plan's problems and its quality."""
    from .texts import alternative_token, applicable

    plan = _locked(plan)
    problems = list(plan.problems)
    if not 0 <= index < len(problems) or not applicable(problems[index]):
        raise GridgovError("gridding.no_alternative")
    params = problems[index]["params"]
    if code is not None and params.get("code") != code:
        raise GridgovError("gridding.stale_alternative", detail=f"{code}")
    if token is not None and alternative_token(problems[index]) != token:
        # searched again since the client listed it (another adjustment reached the area): not what it saw
        raise GridgovError("gridding.stale_alternative", detail=f"{params.get('code', '')}")
    alt = params["alternative"]
    touched = _Touched()
    if params.get("level") == "grid":
        _apply_grid_steps(plan, alt["steps"], touched)
        ends = dict(
            PlanGrid.objects.filter(plan=plan, code__in=list(alt["sizes"])).values_list("code", "weight")
        )
    else:
        _apply_area_steps(plan, alt["steps"], touched)
        ends = dict(
            PlanArea.objects.filter(plan=plan, code__in=list(alt["sizes"])).values_list("code", "weight")
        )
    # The areas (grids) end as the engine said (else the plan changed since in a way the steps did not catch).
    if any(abs(ends.get(c, -1.0) - w) > 1e-6 for c, w in alt["sizes"].items()):
        raise GridgovError("gridding.stale_alternative", detail=", ".join(sorted(alt["sizes"])))
    audit.record(
        actor=actor,
        action="gridding.plan_apply_alternative",
        obj=plan,
        problem=index,
        code=params.get("code"),
        steps=len(alt["steps"]),
    )
    return _adjusted(plan, touched)


def _apply_area_steps(plan: GriddingPlan, steps: list[dict[str, Any]], touched: _Touched) -> None:
    for step in steps:
        if step["op"] == "move":
            hid = int(step["household"])
            cell = (
                PlanCell.objects.filter(plan=plan, household_ids__contains=[hid])
                .select_related("area")
                .first()
            )
            if (
                cell is None
                or cell.area.code != step["from"]
                or len(cell.household_ids) != step["households"]
            ):
                raise GridgovError("gridding.stale_alternative", detail=f"{step['from']} → {step['to']}")
            to_area = PlanArea.objects.filter(plan=plan, code=step["to"]).first()
            if to_area is None:
                raise GridgovError("gridding.stale_alternative", detail=step["to"])
            _move_cell(plan, cell, to_area, touched)
        else:
            area = PlanArea.objects.filter(plan=plan, code=step["into"]).first()
            other = PlanArea.objects.filter(plan=plan, code=step["area"]).first()
            if area is None or other is None:
                raise GridgovError("gridding.stale_alternative", detail=f"{step['area']} → {step['into']}")
            _merge_areas(plan, area, other, touched)


def _apply_grid_steps(plan: GriddingPlan, steps: list[dict[str, Any]], touched: _Touched) -> None:
    for step in steps:
        if step["op"] == "move_area":
            area = PlanArea.objects.select_related("grid").filter(plan=plan, code=step["area"]).first()
            to_grid = PlanGrid.objects.filter(plan=plan, code=step["to"]).first()
            if (
                area is None
                or to_grid is None
                or area.grid.code != step["from"]
                or abs(area.weight - float(step["weight"])) > 1e-6
            ):
                raise GridgovError("gridding.stale_alternative", detail=f"{step['from']} → {step['to']}")
            _move_area(plan, area, to_grid, touched)
        else:
            grid = PlanGrid.objects.filter(plan=plan, code=step["grid"]).first()
            into = PlanGrid.objects.filter(plan=plan, code=step["into"]).first()
            if grid is None or into is None:
                raise GridgovError("gridding.stale_alternative", detail=f"{step['grid']} → {step['into']}")
            _merge_grids(plan, grid, into, touched)
