"""A plan's problems and quality checked again after staff adjust it by hand (service layer).

The engine reports, for the plan it made, the areas and grids out of range or in several pieces with
their nearest alternative (`algorithm.nearest`), and the plan's quality (`algorithm.quality`). Staff
then move buildings, split and merge areas, apply alternatives: `recheck` brings both up to date in
the adjustment's own transaction, for the whole community (the sizes and pieces are read from the
plan's rows in one query each), and searches a nearest alternative again only for the problems the
adjustment reached (a problem whose areas, or whose target's neighbours, the adjustment changed, or a
new one); the others keep theirs. The cells' neighbour graph is kept with the cells (`PlanCell.index`,
`neighbours`) when the plan is made, since adjustments never change a cell's outline.
"""

from __future__ import annotations

import math
import statistics
from collections import OrderedDict, defaultdict
from dataclasses import asdict, dataclass
from typing import Any

from django.contrib.gis.db.models.functions import NumGeometries
from django.db import connection
from django.db.models import Q

from .algorithm.model import Config, Item, Plan, Problem
from .algorithm.nearest import explain
from .algorithm.projection import Projection
from .algorithm.quality import polsby_popper
from .models import GriddingPlan, PlanArea, PlanCell, PlanGrid
from .selectors import to_shapely

EPS = 1e-9
CHECKED = ("out_of_range", "not_contiguous")  # the kinds an adjustment can make or mend


def compactness(geoms: list[Any]) -> list[tuple[float, float]]:
    """(Polsby–Popper, hull Polsby–Popper) of metric polygons."""
    if not geoms:
        return []
    pp = polsby_popper(geoms)
    hull = polsby_popper([g.convex_hull for g in geoms])
    return [(float(a), float(b)) for a, b in zip(pp, hull, strict=True)]


def measure_areas(plan: GriddingPlan, areas: list[PlanArea]) -> None:
    """Fill `pp` and `hull_pp` of `areas` from their polygons (lon/lat, projected as the engine does)."""
    if not areas:
        return
    proj = Projection.around(to_shapely(plan.community.boundary))
    values = compactness([proj.to_metric(to_shapely(a.boundary)) for a in areas])
    for a, (pp, hull) in zip(areas, values, strict=True):
        a.pp, a.hull_pp = pp, hull
    PlanArea.objects.bulk_update(areas, ["pp", "hull_pp"])


def recheck(
    plan: GriddingPlan,
    changed_areas: set[str],
    changed_grids: set[str],
    changed_totals: set[str],
    config: Config,
) -> None:
    """Problems and quality of `plan` after an adjustment that changed the members of `changed_areas`
    (codes, including areas gone or new), the areas of `changed_grids` and the totals of
    `changed_totals` (grids), under the plan's `config`; sets `plan.problems` and `plan.quality` (the
    caller saves them in its transaction)."""
    measure_areas(plan, list(PlanArea.objects.filter(Q(code__in=changed_areas) | Q(pp=None), plan=plan)))
    areas = list(
        PlanArea.objects.filter(plan=plan)
        .annotate(parts=NumGeometries("boundary"))
        .order_by("code")
        .values("pk", "code", "grid_id", "weight", "parts", "pp", "hull_pp")
    )
    grids = list(
        PlanGrid.objects.filter(plan=plan)
        .annotate(parts=NumGeometries("boundary"))
        .order_by("code")
        .values("pk", "code", "weight", "parts")
    )
    found = _problems(areas, grids, config)
    previous = {_key(p): p for p in plan.problems if p.get("kind") == "out_of_range"}
    kept = [p for p in plan.problems if p.get("kind") not in CHECKED]
    wanted = [p for p in found if p["kind"] == "out_of_range"]
    if wanted:
        graph = _Graph.load(plan, areas, grids)
        todo: list[int] = []
        for k, p in enumerate(found):
            if p["kind"] != "out_of_range":
                continue
            old = previous.get(_key(p))
            if old is not None and _still_good(old, p, graph, changed_areas, changed_grids, changed_totals):
                found[k] = {**p, "alternative": old.get("alternative", ""), "params": old["params"]}
            else:
                todo.append(k)
        if todo:
            named = graph.explain([found[k] for k in todo], config)
            for k, p in zip(todo, named, strict=True):
                found[k] = p
    plan.problems = kept + found
    plan.quality = _quality(plan, areas, grids, config)


def _key(p: dict[str, Any]) -> tuple[str, str]:
    params = p.get("params") or {}
    return str(params.get("level", "")), str(params.get("code", ""))


def _problems(
    areas: list[dict[str, Any]], grids: list[dict[str, Any]], config: Config
) -> list[dict[str, Any]]:
    """Areas (then grids) out of range or in several pieces, as the engine reports them (by code)."""
    out: list[dict[str, Any]] = []
    lo, hi = config.area_min, config.area_max
    for a in areas:
        w, code = a["weight"], a["code"]
        if not lo - EPS <= w <= hi + EPS:
            params = {"level": "area", "weight": w, "lo": lo, "hi": hi, "code": code}
            out.append(
                _problem("out_of_range", f"area {code} holds {w:g} (range {lo:g}–{hi:g})", code, params)
            )
        if a["parts"] > 1:
            params = {"level": "area", "code": code}
            out.append(_problem("not_contiguous", f"area {code} is in several pieces", code, params))
    lo, hi = config.grid_min, config.grid_max
    for g in grids:
        w, code = g["weight"], g["code"]
        if not lo - EPS <= w <= hi + EPS:
            params = {"level": "grid", "weight": w, "lo": lo, "hi": hi, "code": code}
            out.append(
                _problem("out_of_range", f"grid {code} holds {w:g} (range {lo:g}–{hi:g})", code, params)
            )
        if g["parts"] > 1:
            params = {"level": "grid", "code": code}
            out.append(_problem("not_contiguous", f"grid {code} is in several pieces", code, params))
    return out


def _problem(kind: str, message: str, code: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "message": message, "where": [code], "alternative": "", "params": params}


def _involved(alt: dict[str, Any]) -> set[str]:
    """The codes an alternative involves (its steps and the sizes it leads to)."""
    steps = alt.get("steps") or []
    keys = ("from", "to", "area", "into", "grid")
    return set(alt.get("sizes") or {}) | {str(c) for s in steps for k, c in s.items() if k in keys}


def _still_good(
    old: dict[str, Any],
    new: dict[str, Any],
    graph: _Graph,
    changed_areas: set[str],
    changed_grids: set[str],
    changed_totals: set[str],
) -> bool:
    """Whether a problem's stored alternative still holds and is still the one a search would find:
    the size is the same, and neither the areas (grids) it involves nor the target's neighbours changed
    (nor, for an area's, the totals of their grids, which its search counts)."""
    alt = (old.get("params") or {}).get("alternative")
    if not isinstance(alt, dict) or alt.get("applied") or alt.get("stale"):
        return False
    if abs(float(old["params"].get("weight", -1)) - float(new["params"]["weight"])) > 1e-6:
        return False
    level, code = _key(new)
    near = graph.area_neighbours(code) if level == "area" else graph.grid_neighbours(code)
    reach = _involved(alt) | near | {code}
    if level == "area":
        grids = {graph.grid_of.get(c, "") for c in reach}
        return not (reach & changed_areas) and not (grids & changed_totals)
    return not (reach & changed_grids)


class _Graph:
    """The plan as the engine's `Plan` (cells as items, areas, grids by code) with the cells' links."""

    def __init__(self, plan: Plan, links: list[set[int]], grid_of: dict[str, str]) -> None:
        self.plan, self.links, self.grid_of = plan, links, grid_of
        self._area_links: list[set[int]] | None = None

    @classmethod
    def load(cls, gp: GriddingPlan, areas: list[dict[str, Any]], grids: list[dict[str, Any]]) -> _Graph:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id, area_id FROM gridding_plancell WHERE plan_id = %s ORDER BY index, id", [gp.pk]
            )
            placed = cur.fetchall()
        cells = _cells(gp, [pk for pk, _a in placed])
        area_index = {a["pk"]: k for k, a in enumerate(areas)}
        grid_index = {g["pk"]: k for k, g in enumerate(grids)}
        plan = Plan(
            items=cells.items,
            area_of=[area_index[a] for _pk, a in placed],
            grid_of_area=[grid_index[a["grid_id"]] for a in areas],
            area_codes=[a["code"] for a in areas],
            grid_codes=[g["code"] for g in grids],
            household_ids=cells.household_ids,
        )
        grid_code = {g["pk"]: g["code"] for g in grids}
        return cls(plan, cells.links, {a["code"]: grid_code[a["grid_id"]] for a in areas})

    def area_links(self) -> list[set[int]]:
        if self._area_links is None:
            of = self.plan.area_of
            out: list[set[int]] = [set() for _ in range(self.plan.n_areas)]
            for i, nbs in enumerate(self.links):
                a = of[i]
                for j in nbs:
                    if of[j] != a:
                        out[a].add(of[j])
            self._area_links = out
        return self._area_links

    def area_neighbours(self, code: str) -> set[str]:
        codes = self.plan.area_codes
        try:
            a = codes.index(code)
        except ValueError:
            return set()
        return {codes[b] for b in self.area_links()[a]}

    def grid_neighbours(self, code: str) -> set[str]:
        p = self.plan
        gof, links = p.grid_of_area, self.area_links()
        try:
            g = p.grid_codes.index(code)
        except ValueError:
            return set()
        return {p.grid_codes[gof[b]] for a in range(p.n_areas) if gof[a] == g for b in links[a]} - {code}

    def explain(self, problems: list[dict[str, Any]], config: Config) -> list[dict[str, Any]]:
        """`problems` (out of range, by code) with their nearest alternative (`nearest.explain`)."""
        self.plan.problems = [
            Problem(p["kind"], p["message"], tuple(p["where"]), p.get("alternative", ""), p["params"])
            for p in problems
        ]
        explain(self.plan, self.links, config)
        return [{**asdict(p), "where": list(p.where)} for p in self.plan.problems]


@dataclass(frozen=True)
class _Cells:
    """What never changes in a plan's cells (an adjustment moves them between areas only): the items
    the search moves, by cell number, and their links; read once per plan and process."""

    pks: list[int]
    items: list[Item]
    household_ids: dict[str, tuple[str, ...]]  # per building, the first household of each of its cells
    links: list[set[int]]


_CELLS: OrderedDict[int, _Cells] = OrderedDict()  # by plan, the few adjusted last
CELLS_KEPT = 4


def _cells(gp: GriddingPlan, pks: list[int]) -> _Cells:
    """The plan's cells as items and links (`pks`: its cells in number order, to check a kept copy)."""
    kept = _CELLS.get(gp.pk)
    if kept is not None and kept.pks == pks:
        _CELLS.move_to_end(gp.pk)
        return kept
    # (a cell's households by their count and the first of them: what an alternative's step names)
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT id, index, building_id, part, cardinality(household_ids), household_ids[1], weight,
                   neighbours
            FROM gridding_plancell WHERE plan_id = %s ORDER BY index, id
            """,
            [gp.pk],
        )
        rows = cur.fetchall()
    if any(r[1] is None for r in rows) or [r[1] for r in rows] != list(range(len(rows))):
        rows = _link_from_outlines(gp)
    items: list[Item] = []
    firsts: dict[str, list[str]] = defaultdict(list)
    for pk, _index, building_id, part, count, first, weight, _nb in rows:
        key = f"b{building_id}" if building_id is not None else f"c{pk}"
        ids = firsts[key]
        items.append(Item(key, part, len(ids), count or 0, weight, 0.0, 0.0))  # `first` numbers its cell
        ids.append(str(first))
    cells = _Cells(
        [r[0] for r in rows], items, {k: tuple(v) for k, v in firsts.items()}, [set(r[7]) for r in rows]
    )
    _CELLS[gp.pk] = cells
    while len(_CELLS) > CELLS_KEPT:
        _CELLS.popitem(last=False)
    return cells


def _link_from_outlines(gp: GriddingPlan) -> list[tuple[Any, ...]]:
    """A plan kept before the cells' links were: number its cells and link them from their outlines
    (shared border of at least `Config.min_shared_border`, no barrier taken into account), kept."""
    from .algorithm.tessellate import adjacency

    cells = list(PlanCell.objects.filter(plan=gp).order_by("pk"))
    proj = Projection.around(to_shapely(gp.community.boundary))
    links = adjacency([proj.to_metric(to_shapely(c.boundary)) for c in cells], Config().min_shared_border)
    for k, c in enumerate(cells):
        c.index, c.neighbours = k, sorted(links[k])
    PlanCell.objects.bulk_update(cells, ["index", "neighbours"], batch_size=2000)
    return [
        (
            c.pk,
            c.index,
            c.building_id,
            c.part,
            len(c.household_ids),
            c.household_ids[0] if c.household_ids else None,
            c.weight,
            c.neighbours,
        )
        for c in cells
    ]


def _quality(
    plan: GriddingPlan, areas: list[dict[str, Any]], grids: list[dict[str, Any]], config: Config
) -> dict[str, Any]:
    """The plan's stored quality with what an adjustment changes measured again: counts, shares in
    range, pieces, compactness (from each area's kept Polsby–Popper) and households keeping their area.
    Gaps, overlaps and buildings cut stay: an adjustment moves whole cells and never changes one."""
    q = dict(plan.quality)
    n = len(areas)
    aw = [a["weight"] for a in areas]
    gw = [g["weight"] for g in grids]
    q["areas"], q["grids"] = n, len(grids)
    q["areas_in_range"] = sum(config.area_min - EPS <= w <= config.area_max + EPS for w in aw) / max(1, n)
    q["grids_in_range"] = sum(config.grid_min - EPS <= w <= config.grid_max + EPS for w in gw) / max(
        1, len(gw)
    )
    single = sum(a["parts"] == 1 for a in areas)
    q["areas_contiguous"] = single / n if n else math.nan
    q["multipart_polygons"] = (n - single) + sum(g["parts"] != 1 for g in grids)
    pp = [a["pp"] for a in areas if a["pp"] is not None]
    hull = [a["hull_pp"] for a in areas if a["hull_pp"] is not None]
    if pp:
        q["pp_mean"], q["pp_median"], q["pp_min"] = statistics.fmean(pp), statistics.median(pp), min(pp)
    if hull:
        q["hull_pp_min"] = min(hull)
    if q.get("kept_same_area") is not None:
        q["kept_same_area"], q["kept_same_grid"] = _kept(plan)
    return q


def _kept(plan: GriddingPlan) -> tuple[float, float]:
    """Shares of the households in an area in force that the plan keeps in an area (and a grid) of the
    same code, as `services.plan_compute` measures them after a re-grid."""
    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT count(*) FILTER (WHERE ra.code = pa.code),
                   count(*) FILTER (WHERE left(ra.code, 15) = pg.code),
                   count(*)
            FROM gridding_plancell c
            JOIN gridding_planarea pa ON pa.id = c.area_id
            JOIN gridding_plangrid pg ON pg.id = pa.grid_id
            CROSS JOIN LATERAL unnest(c.household_ids) AS h(id)
            JOIN households_household hh ON hh.id = h.id AND hh.active AND hh.area_id IS NOT NULL
            JOIN geo_responsibilityarea ra ON ra.id = hh.area_id
            WHERE c.plan_id = %s
            """,
            [plan.pk],
        )
        same_area, same_grid, common = cur.fetchone()
    return same_area / max(1, common), same_grid / max(1, common)
