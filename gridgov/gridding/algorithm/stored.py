"""The plan in force as the re-grid reads it: its cells (outline, households, area and grid), areas'
and grids' outlines and problems, in the community's metric plane.

A re-grid starts from these (issue 3, "Stability"): a building whose households are those of its
stored cells, in the same order and with the same workload, is unchanged, and so is its cell. The first
step: when no building changed, the community's outline is the one the cells tile and the codes in force
are the plan's, the re-grid is the plan in force itself (`plan_from_stored`), not a rebuild of its cells.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from .model import BuildingIn, CommunityIn, Config, Item, Plan, Problem
from .tessellate import adjacency

PreviousCodes = dict[tuple[str, str], tuple[str, str]]

# The outline the stored areas tile may differ from the community's by slivers (snapping to 1 cm, lon/lat
# round trips, the store's clipping): the pieces between the two must be no wider than this (metres).
OUTLINE_SLIVER_M = 0.05
# A building's point farther than this from its stored cells has moved (a point on a barrier lies off its
# block, and so off its cell, by less).
MOVED_M = 1.0


@dataclass(frozen=True)
class StoredCell:
    """One `PlanCell`: a building's (or one unit/floor run's) households and its cell."""

    building: str  # engine building id ("b<pk>")
    part: int
    household_ids: tuple[str, ...]
    weight: float
    area: str  # area code
    grid: str  # grid code
    cell: BaseGeometry  # metric
    neighbours: tuple[int, ...] | None = None  # cell numbers (None: plans kept before the links were)


@dataclass
class StoredPlan:
    cells: list[StoredCell]  # in cell number order
    area_polygons: dict[str, BaseGeometry]  # area code → metric outline
    grid_polygons: dict[str, BaseGeometry]  # grid code → metric outline
    area_grid: dict[str, str] = field(default_factory=dict)  # area code → grid code
    problems: list[Problem] = field(default_factory=list)


def changed_buildings(community: CommunityIn, stored: StoredPlan) -> set[str]:
    """Buildings added, gone, moved off their stored cells, or whose households (ids, order, workload)
    differ from their stored cells."""
    runs: dict[str, list[StoredCell]] = defaultdict(list)
    for c in stored.cells:
        runs[c.building].append(c)
    out = set(runs) - {b.id for b in community.buildings}
    for b in community.buildings:
        cells = runs.get(b.id)
        if not cells:
            out.add(b.id)
            continue
        here = Point(b.x, b.y)
        if min(c.cell.distance(here) for c in cells) > MOVED_M:
            out.add(b.id)  # moved off its cell: its cell, and its neighbours', are no longer its own
            continue
        hids = _ids(b)
        position = {h: k for k, h in enumerate(hids)}
        spans = []
        for c in cells:
            first = position.get(c.household_ids[0]) if c.household_ids else None
            if first is None or hids[first : first + len(c.household_ids)] != c.household_ids:
                out.add(b.id)
                break
            if abs(sum(b.weights[first : first + len(c.household_ids)]) - c.weight) > 1e-6:
                out.add(b.id)
                break
            spans.append((first, first + len(c.household_ids)))
        else:
            spans.sort()  # the runs cover the building's households, end to end
            ends = [0] + [j for _i, j in spans]
            if [i for i, _j in spans] + [len(hids)] != ends:
                out.add(b.id)
    return out


def unchanged(community: CommunityIn, previous: PreviousCodes, stored: StoredPlan) -> bool:
    """No building changed, every household is in force where the plan put it, and the stored areas
    tile the community's outline as it is."""
    if changed_buildings(community, stored):
        return False
    planned = {(c.building, h): (c.area, c.grid) for c in stored.cells for h in c.household_ids}
    if planned != previous:
        return False
    return tiles(stored, community.boundary)


def wider_than_slivers(apart: BaseGeometry) -> float:
    """The area of `apart`'s pieces wider than `OUTLINE_SLIVER_M` (a piece's mean width: twice its area
    over its perimeter, for a sliver of any length): 0 when it is only slivers."""
    return float(
        sum(g.area for g in getattr(apart, "geoms", [apart]) if 2 * g.area > OUTLINE_SLIVER_M * g.length)
    )


def tiles(stored: StoredPlan, boundary: BaseGeometry) -> bool:
    """Whether the stored areas (one per code of the cells) tile `boundary`, but for slivers. (Their
    outline from the grids' polygons when every grid has one: the same outline, a third of the time.)"""
    if set(stored.area_polygons) != {c.area for c in stored.cells}:
        return False
    grids = stored.grid_polygons
    whole = grids if grids and set(grids) == {c.grid for c in stored.cells} else stored.area_polygons
    outline = unary_union(list(whole.values()))
    return wider_than_slivers(outline.symmetric_difference(boundary)) == 0


def plan_from_stored(community: CommunityIn, stored: StoredPlan, config: Config) -> Plan:
    """The stored plan as the engine's `Plan`: its items, areas, grids, codes, polygons, cells, links
    and problems (for a re-grid with no change: the plan in force as it is)."""
    grid_codes = sorted({c.grid for c in stored.cells})
    area_codes = sorted({c.area for c in stored.cells})
    grid_index = {g: k for k, g in enumerate(grid_codes)}
    area_index = {a: k for k, a in enumerate(area_codes)}
    area_grid = {c.area: c.grid for c in stored.cells}
    by_id = {b.id: b for b in community.buildings}
    items = [stored_item(c, by_id[c.building]) for c in stored.cells]
    cells = [c.cell for c in stored.cells]
    if all(c.neighbours is not None for c in stored.cells):
        links = [set(c.neighbours or ()) for c in stored.cells]
    else:
        links = adjacency(cells, config.min_shared_border)
    plan = Plan(
        items=items,
        area_of=[area_index[c.area] for c in stored.cells],
        grid_of_area=[grid_index[area_grid[a]] for a in area_codes],
        area_codes=area_codes,
        grid_codes=grid_codes,
        area_polygons=[stored.area_polygons[a] for a in area_codes],
        grid_polygons=[stored.grid_polygons[g] for g in grid_codes],
        problems=list(stored.problems),
        item_cells=cells,
        links=links,
    )
    plan.household_ids = {b.id: b.household_ids for b in community.buildings if b.household_ids}
    return plan


def stored_from_plan(plan: Plan) -> StoredPlan:
    """What the store keeps of an engine plan, as a re-grid reads it back (without the round trip to
    lon/lat): for tests and benches of the algorithm alone."""
    links = plan.links if len(plan.links) == len(plan.items) else None
    cells = []
    for k, (it, a, cell) in enumerate(zip(plan.items, plan.area_of, plan.item_cells, strict=True)):
        ids = plan.household_ids.get(it.building)
        hids = tuple(ids[h] if ids else str(h) for h in range(it.first, it.first + it.count))
        grid = plan.grid_codes[plan.grid_of_area[a]]
        neighbours = tuple(sorted(links[k])) if links is not None else None
        cells.append(
            StoredCell(it.building, it.part, hids, it.weight, plan.area_codes[a], grid, cell, neighbours)
        )
    return StoredPlan(
        cells=cells,
        area_polygons=dict(zip(plan.area_codes, plan.area_polygons, strict=True)),
        grid_polygons=dict(zip(plan.grid_codes, plan.grid_polygons, strict=True)),
        area_grid={c: plan.grid_codes[g] for c, g in zip(plan.area_codes, plan.grid_of_area, strict=True)},
        problems=list(plan.problems),
    )


def stored_item(c: StoredCell, b: BuildingIn) -> Item:
    """The item of a stored cell (its households a run of building `b`'s, from their first)."""
    return Item(
        c.building, c.part, _ids(b).index(c.household_ids[0]), len(c.household_ids), c.weight, b.x, b.y
    )


def _ids(b: BuildingIn) -> tuple[str, ...]:
    return tuple(b.hid(k) for k in range(len(b.weights)))


def problems_from_json(rows: list[dict]) -> list[Problem]:
    """The plan's stored problems (`asdict(Problem)` plus what the service added) as `Problem`s."""
    return [
        Problem(
            kind=r.get("kind", ""),
            message=r.get("message", ""),
            where=tuple(r.get("where") or ()),
            alternative=r.get("alternative", ""),
            params=dict(r.get("params") or {}),
        )
        for r in rows
    ]


__all__ = [
    "StoredCell",
    "StoredPlan",
    "changed_buildings",
    "plan_from_stored",
    "problems_from_json",
    "stored_from_plan",
    "stored_item",
    "tiles",
    "unchanged",
    "wider_than_slivers",
]
