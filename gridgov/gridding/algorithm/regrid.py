"""Stable re-gridding: start from the previous plan and repair only where the change broke it.

Households keep their area when their building is unchanged and the area is still in range and in
one piece. New buildings join an adjacent area with room (households the stored plan does not have
are free even when staff already placed them in an area: `held_codes`); only groups that end up out of range
or in pieces are re-cut, with their neighbourhood (the same `repair` → `mend` → `donate` steps as a
fresh plan). Codes follow households: a group keeps the old code that most of its households
carried, so areas that did not change keep their code (and member); new groups get the next free
number in their grid.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .chains import fill_by_chains
from .donate import Donation, donate, face_areas
from .engine import (
    Prepared,
    _cut_items,
    _grids_connected,
    check,
    check_code_space,
    cut_shared_buildings,
    name_problem,
    prepare,
    respect_barriers,
    validate,
)
from .grow import mend
from .model import BuildingIn, CommunityIn, Config, Item, Plan
from .nearest import explain
from .repair import components, connected, repair
from .splitting import split_buildings
from .stored import StoredPlan, changed_buildings, plan_from_stored, unchanged
from .tessellate import dissolve, seal

logger = logging.getLogger(__name__)

CRUMB_M2 = 1.0  # a cell's part smaller than this beside a bigger one is rounding debris (incremental)

PreviousCodes = dict[tuple[str, str], tuple[str, str]]  # (building, household id) → (area code, grid code)


@dataclass
class RegridInputs:
    """What the re-grid's partition needs: the community prepared with its buildings cut as before and
    their cells facing the areas they had, and each item's previous codes."""

    p: Prepared
    previous: PreviousCodes
    hids: list[list[tuple[str, str]]]  # per item: (building, household id) of its households
    household_ids: dict[str, tuple[str, ...]]
    block_of: dict[str, int] = field(default_factory=dict)  # building → block
    # Per item: the area code most of its households had ("" if none), and their grid codes counted.
    area_code: list[str] = field(default_factory=list)
    grid_votes: list[Counter[str]] = field(default_factory=list)
    # Set by `regrid_partition`: a new item was split between areas or given a run (`_split_new`).
    split_new: bool = False


def regrid(
    community: CommunityIn,
    previous: PreviousCodes,
    config: Config | None = None,
    *,
    code: str = "",
    build_polygons: bool = True,
    check_codes: bool = False,
    stored: StoredPlan | None = None,
    incremental: bool = False,
    ranges_changed: bool = False,
) -> Plan:
    """Re-grid from the codes in force: `regrid_inputs` (geometry), `regrid_partition` (the neighbour
    graph only), then the cells of shared buildings are cut, codes given and polygons built.
    `check_codes`: as `plan_community`'s. `stored`: the plan in force (its cells); when nothing changed
    since (`stored.unchanged`), that plan is the re-grid, as it is. `incremental`: with `stored`, only
    the changed buildings' cells are rebuilt (`_incremental`, see local.py), the full rebuild as its
    fallback. `ranges_changed`: the codes in force were cut for other settings (the full rebuild is then
    compared with one holding no household, `_unheld_if_better`). `plan.regrid_path` says which path was
    taken and why."""
    config = config or Config()
    if stored is not None and unchanged(community, previous, stored):
        plan = plan_from_stored(community, stored, config)
        plan.regrid_path = "stored"
        return plan
    why = ""
    # The partition holds households to their codes in force, but for those the stored plan does not
    # have (a new building's, a grown building's added ones: placed by staff in an area that may have no
    # room): free, they join neighbours with room or are cut (`held_codes`). Codes and the "kept"
    # measure count every household in force.
    held = held_codes(previous, stored, community, config) if stored is not None else previous
    if stored is not None and incremental:
        validate(community)  # as the full rebuild's `prepare` does: never a building silently dropped
        plan, why = _incremental(
            community,
            previous,
            config,
            stored,
            held=held,
            code=code,
            build_polygons=build_polygons,
            check_codes=check_codes,
        )
        if plan is not None:
            return plan
    kw: dict[str, Any] = {"code": code, "build_polygons": build_polygons, "check_codes": check_codes}
    plan = _full(community, previous, held, config, **kw)
    plan.regrid_path = f"full ({why})" if why else "full"
    return _unheld_if_better(community, previous, config, plan, **kw) if ranges_changed else plan


def _unheld_if_better(
    community: CommunityIn, previous: PreviousCodes, config: Config, plan: Plan, **kw: Any
) -> Plan:
    """The full rebuild holds households to their codes in force; where those areas were cut for other
    ranges (the settings changed: `area_max` lowered, `area_min` raised), it keeps areas out of range that
    a partition holding no household avoids. A plan with faults is compared with the full rebuild holding
    none (codes still given by the households' votes): the one with fewer faults, this one on a tie. Only
    after a change of settings: for a change of buildings, a fault the plan in force had (a block the
    numbers make infeasible) is no reason to cut every area afresh."""
    from . import local  # (local imports this module)

    try:
        f = local.faults(plan, community, config)
        plan.measured = f.quality
        if f.score == (0, 0):
            return plan
        alt = _full(community, previous, {}, config, **kw)
        fa = local.faults(alt, community, config)
    except Exception:  # (the comparison is a refinement: the full rebuild stands)
        logger.warning("re-grid holding no household failed; the full rebuild stands", exc_info=True)
        return plan
    if fa.score >= f.score:
        return plan
    alt.measured = fa.quality
    note = f"holding no household to its area: {fa.score[1]} faults against {f.score[1]}"
    path = plan.regrid_path
    alt.regrid_path = f"{path[:-1]}; {note})" if path.endswith(")") else f"{path} ({note})"
    return alt


# Areas a change broke are mended inside their grids first (`regrid_partition`). Constants, not settings:
# a plan depends only on its input (a bench or test may patch them to compare with the steps off).
MEND_IN_GRIDS = True
# A short grid takes whole areas from neighbouring grids with room first (`_take_areas`).
TAKE_AREAS = True
# A new item that fits whole in no adjacent area is split between two with room (`_split_new`).
SPLIT_NEW = True
# New households standing alone take a run of a neighbouring building only when short by at most this.
DONATE_MAX = 5
# A grid in pieces that no grid with room can join takes a joining area of a grid at its minimum, which
# takes one from a grid with room in turn (`_join_by_chain`).
JOIN_BY_CHAIN = True

# A member (a grid leader) follows their households to a new area (grid) only if it holds at least this
# share of them (`heirs_by_votes`).
MEMBER_MIN_SHARE = 0.5

# An incremental plan keeping fewer households in their area than this is compared with the full rebuild.
KEPT_MIN = 0.95


def _incremental(
    community: CommunityIn,
    previous: PreviousCodes,
    config: Config,
    stored: StoredPlan,
    *,
    code: str,
    build_polygons: bool,
    check_codes: bool,
    held: PreviousCodes | None = None,
) -> tuple[Plan | None, str]:
    """The incremental re-grid (local.py), or None and why not. Two regions: the changed cells alone (a
    cell a building left takes its neighbours in), then with one ring of neighbours around them — unless
    the first plan has no fault and keeps every household's area, or the ring adds no cell; the better
    plan of the two (fewer faults, more households keeping their area, the smaller region). The full
    rebuild is computed as well when that plan falls short of the plan in force (`local.shortfall`), keeps
    fewer than `KEPT_MIN` in their area or moves an area to another grid (its code changes, and codes
    may be passed on to other households): the better of the two by (faults, households keeping their
    area), the incremental one on a tie. `held`: the codes the partition holds households to
    (`held_codes`; `previous` when None); `previous` still names the codes and measures what is kept."""
    from . import local  # (local imports this module)

    held = previous if held is None else held
    why = local.not_local(community, stored)
    if why:
        return None, why
    links, changed = local.stored_links(stored, config), changed_buildings(community, stored)
    tried: list[tuple[tuple[tuple[int, int], float, int, bool], local.Faults, Plan]] = []
    first: set[int] | None = None
    for ring in (False, True):
        reg = local.region(community, stored, config, changed, links, ring=ring)
        if reg.cells == first:
            break  # the same region: the same plan
        first = reg.cells
        if local.share(reg, stored) > local.MAX_SHARE:
            why = why or f"region over {local.MAX_SHARE:.0%} of the cells"
            break  # (the ring's region holds the first)
        for split_new in (True, False):
            try:
                li = local.local_inputs(community, held, stored, config, links=links, reg=reg, checked=True)
                assert li is not None  # (checked above)
                plan = finish(
                    community,
                    _grid_votes(li.r, previous),
                    previous,
                    config,
                    code=code,
                    build_polygons=build_polygons,
                    check_codes=check_codes,
                    touch=li.rebuilt,
                    stored=stored,
                    split_new=split_new,
                )
                f = local.faults(plan, community, config)
                kept = kept_share(previous, plan)[0]
            except Exception as exc:  # never worse than the full rebuild: that is the fallback
                logger.warning("incremental re-grid failed, full rebuild instead", exc_info=True)
                why = why or f"incremental failed: {type(exc).__name__}"
                if split_new:
                    continue  # (the partition without the split is tried still)
                break
            tried.append(((f.score, -kept, len(reg.cells), not split_new), f, plan))
            # New households split between areas or given a run (`_split_new`): the partition without
            # is tried as well (the split's cut cells may leave its neighbourhood worse off), unless the
            # plan has no fault, keeps `KEPT_MIN` and moves no area to another grid (the two computed
            # every time doubled the whole call where a split is made: 2.1 -> 4.0 s on the lattice).
            if not li.r.split_new or (
                f.score == (0, 0) and kept >= KEPT_MIN and not areas_moved_grid(held, plan)
            ):
                break
        if any(t[0][:2] == ((0, 0), -1.0) for t in tried):
            break  # nothing to gain from a bigger region
    if not tried:
        return None, why
    (score, neg_kept, *_), f, plan = min(tried, key=lambda t: t[0])
    reasons = [why for why in [local.shortfall(f, stored, config)] if why]
    if -neg_kept < KEPT_MIN:
        reasons.append(f"{-neg_kept:.1%} keep their area")
    moved = areas_moved_grid(held, plan)  # (a new building's households place no area)
    if moved:
        reasons.append(f"{moved} areas moved to another grid")
    plan.measured = f.quality
    if not reasons:
        plan.regrid_path = "incremental"
        return plan, ""
    why = "; ".join(reasons)
    full = _full(
        community, previous, held, config, code=code, build_polygons=build_polygons, check_codes=check_codes
    )
    ff = local.faults(full, community, config)
    full.measured = ff.quality
    if (score, neg_kept) <= (ff.score, -kept_share(previous, full)[0]):
        plan.regrid_path = f"incremental ({why}; the full rebuild no better)"
        return plan, ""
    full.regrid_path = f"full ({why})"
    return full, ""


def _full(
    community: CommunityIn, previous: PreviousCodes, held: PreviousCodes, config: Config, **kw: Any
) -> Plan:
    """The full rebuild: every cell from the buildings, households held to `held` (`held_codes`), codes and
    the kept share from every code in force."""
    r = _grid_votes(regrid_inputs(community, held, config), previous)
    return finish(community, r, previous, config, **kw)


def held_codes(
    previous: PreviousCodes,
    stored: StoredPlan,
    community: CommunityIn | None = None,
    config: Config | None = None,
) -> PreviousCodes:
    """The codes in force the partition holds households to (`previous` itself when that is all of them).
    Households the stored plan does not have — a new building's, a grown building's added ones — are
    placed by staff in the area their building lies in, which may have no room: without a code to hold
    them, the partition joins them to neighbours with room, cuts their building, or re-cuts the
    neighbourhood. With `community` and `config`, they are freed only where their area has no room (its
    workload in force over `area_max`): one household added where there is room stays, and households
    re-imported under new ids, each area as it was, are all held."""
    planned = {(c.building, h) for c in stored.cells for h in c.household_ids}
    if all(k in planned for k in previous):
        return previous
    crowded = None
    if community is not None and config is not None:
        weight = {(b.id, b.hid(i)): w for b in community.buildings for i, w in enumerate(b.weights)}
        load: Counter[str] = Counter()
        for k, (area, _grid) in previous.items():
            load[area] += weight.get(k, 1.0)
        crowded = {area for area, w in load.items() if w > config.area_max + 1e-9}
    roomy = (lambda area: area not in crowded) if crowded is not None else (lambda area: False)
    held = {k: v for k, v in previous.items() if k in planned or roomy(v[0])}
    return previous if len(held) == len(previous) else held


def _grid_votes(r: RegridInputs, previous: PreviousCodes) -> RegridInputs:
    """Each item's grid votes from every code in force (`r.previous` held only some, `held_codes`): a
    household placed by staff is in the grid its building lies in, and its area stays there."""
    if r.previous is not previous:
        r.grid_votes = [Counter(previous[k][1] for k in keys if k in previous) for keys in r.hids]
    return r


def kept_share(previous: PreviousCodes, plan: Plan) -> tuple[float, float]:
    """Shares of the households in force (and still there) keeping their area code, and their grid code."""
    now = plan.household_codes()
    common = [k for k in previous if k in now]
    n = max(1, len(common))
    return (
        sum(previous[k][0] == now[k][0] for k in common) / n,
        sum(previous[k][1] == now[k][1] for k in common) / n,
    )


def heirs(previous: PreviousCodes, plan: Plan) -> list[str]:
    """Per area of `plan`, the area in force whose member it takes ("" for none), as the service carries
    members over (`services._suggest_people`, by `heirs_by_votes`)."""
    votes: list[Counter[str]] = [Counter() for _ in range(plan.n_areas)]
    for k, a in plan.household_area().items():
        if k in previous:
            votes[a][previous[k][0]] += 1
    return heirs_by_votes(plan.area_codes, votes, {a for a, _g in previous.values()})


def heirs_by_votes(
    codes: list[str], votes: list[Counter[str]], live: set[str], min_share: float | None = None
) -> list[str]:
    """Per new area (its code, and the areas in force its households come from, counted), the area in
    force whose member it takes ("" for none). A member follows their households: to the new area
    holding the most of their area's households that are still there, and only if it holds at least
    `min_share` of them (default `MEMBER_MIN_SHARE`, half); an area takes one member, the one with the
    most households there (on a tie, its own code's, then the first). So an area renumbered (moved to
    another grid, given a free code) keeps its member, a code given to other households does not hand
    them its old member (an area of new households only takes none), an area holding 1 of a member's 16
    households does not take them, and a member whose households are spread with no area holding half
    is left for staff to place (the areas listed unassigned). The same for grids and their leaders
    (`services._suggest_people`)."""
    share = MEMBER_MIN_SHARE if min_share is None else min_share
    total: Counter[str] = Counter()
    for v in votes:
        total.update(v)
    pairs = sorted(
        (-n, code != c, a, c)
        for a, (code, v) in enumerate(zip(codes, votes, strict=True))
        for c, n in v.items()
        if c in live and n >= share * total[c] - 1e-9
    )
    out = [""] * len(codes)
    taken: set[str] = set()
    for _n, _other, a, c in pairs:
        if out[a] or c in taken:
            continue
        out[a] = c
        taken.add(c)
    return out


def kept_member_share(previous: PreviousCodes, plan: Plan) -> float:
    """Share of the households in force (and still there) keeping their grid code and their member: the
    area they are in now takes the member of the area they were in (`heirs`), a renumbered area too."""
    now = plan.household_area()
    heir = heirs(previous, plan)
    common = [k for k in previous if k in now]
    return sum(
        heir[now[k]] == previous[k][0] and plan.grid_codes[plan.grid_of_area[now[k]]] == previous[k][1]
        for k in common
    ) / max(1, len(common))


def areas_moved_grid(previous: PreviousCodes, plan: Plan) -> int:
    """Areas of `plan` whose households (those in force) mostly come from an area of another grid."""
    now = plan.household_codes()
    origin: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    grid_of: dict[str, str] = {}
    for k, (a, g) in now.items():
        if k in previous:
            origin[a][previous[k]] += 1
            grid_of[a] = g
    return sum(c.most_common(1)[0][0][1] != grid_of[a] for a, c in origin.items())


def finish(
    community: CommunityIn,
    r: RegridInputs,
    previous: PreviousCodes,
    config: Config,
    *,
    code: str = "",
    build_polygons: bool = True,
    check_codes: bool = False,
    touch: set[int] | None = None,
    stored: StoredPlan | None = None,
    split_new: bool = True,
) -> Plan:
    """The re-grid from its inputs: the partition, then the cells of shared buildings cut, codes given
    and polygons built. `touch` (an incremental re-grid: R's items): only their buildings and those of
    the areas the change reached are faced again. `stored`: areas whose cells are all the stored ones,
    untouched, keep the stored polygon (and grids all of whose areas do, theirs)."""
    n0 = len(r.p.items)
    adj0 = [set(a) for a in r.p.adj]  # the partition may add borrowed links for donations in place
    # (Not `touch=touch`: R's groups touched from the start let `mend` re-cut R's neighbourhood whole —
    # 76% kept after one new building in a 64-building lattice, 100% without; see local.py.)
    plan = regrid_partition(r, config, chains=touch is not None, split_new=split_new)
    cells = list(r.p.cells)
    only = None
    if touch is not None:
        reached = _reached(plan, r)
        only = {plan.items[i].building for i in touch if i < len(plan.items)}
        only |= {it.building for it, a in zip(plan.items, plan.area_of, strict=True) if a in reached}
    if cut_shared_buildings(
        plan, cells, adj0, r.p, config, uncut=False, focus=lambda pl: _reached(pl, r), only=only
    ):
        lo, hi = config.grid_min - 1e-9, config.grid_max + 1e-9
        # A donation taken back can leave a grid short; cut cells can move a border a grid relied on.
        if not _grids_connected(plan, adj0) or not all(lo <= w <= hi for w in plan.grid_weights()):
            plan.grid_of_area = _grids(plan, adj0, r, config, n0, chains=touch is not None)
    plan.household_ids = {b.id: b.household_ids for b in community.buildings if b.household_ids}
    hids = [_hids(it, r.household_ids) for it in plan.items]
    if check_codes:
        check_code_space(plan, code)
    # (after any donation taken back: the items as they are)
    _codes(plan, previous, code, hids.__getitem__, retire=touch is not None, held=r.previous)
    blk = np.array([r.block_of[it.building] for it in plan.items], dtype=np.int64)
    weights = np.array([it.weight for it in plan.items])
    adj_f = respect_barriers(adj0, blk, weights, config.area_min, config.area_max)
    plan.problems = r.p.infeasible + [
        name_problem(pr, plan.area_codes.__getitem__, plan.grid_codes.__getitem__)
        for pr in check(plan, adj_f, config)
    ]
    explain(plan, adj_f, config)  # the nearest alternative of what is out of range
    plan.links = adj_f
    if build_polygons:
        seal(cells, _cut_items(plan.items), community.boundary)
        if touch is not None:
            # A kept cut building sliced again from the union of its stored pieces (read back from
            # lon/lat, off the 1 cm grid) can leave a crumb of cm² beside a piece: dropped, as the
            # store drops parts under 1 m² (a gap of that much, within the seams' tolerance).
            for i, c in enumerate(cells):
                if c.geom_type == "MultiPolygon":
                    parts = [g for g in c.geoms if g.area >= CRUMB_M2]
                    cells[i] = parts[0] if len(parts) == 1 else c
        members: list[list[int]] = [[] for _ in range(plan.n_areas)]
        for i, a in enumerate(plan.area_of):
            members[a].append(i)
        kept = _kept_areas(plan, cells, members, stored) if stored is not None else {}
        todo = [a for a in range(plan.n_areas) if a not in kept]
        built = dissolve(cells, [members[a] for a in todo])
        polys = dict(kept)
        polys.update(zip(todo, built, strict=True))
        plan.area_polygons = [polys[a] for a in range(plan.n_areas)]
        gm: list[list[int]] = [[] for _ in range(plan.n_grids)]
        for a, g in enumerate(plan.grid_of_area):
            gm[g].append(a)
        plan.grid_polygons = _grid_polygons(plan, gm, kept, stored)
        plan.item_cells = cells
    return plan


def _kept_areas(plan: Plan, cells: list, members: list[list[int]], stored: StoredPlan) -> dict[int, object]:
    """Areas whose cells are exactly a stored area's, each the stored cell as it is (the same object:
    neither rebuilt nor sealed since), under the same code: their stored polygon."""
    by_code: dict[str, dict[tuple[str, int], object]] = defaultdict(dict)
    for c in stored.cells:
        by_code[c.area][(c.building, c.part)] = c.cell
    out: dict[int, object] = {}
    for a, m in enumerate(members):
        code = plan.area_codes[a]
        old = by_code.get(code)
        if not old or code not in stored.area_polygons or len(old) != len(m):
            continue
        if all(old.get(plan.items[i].key) is cells[i] for i in m):
            out[a] = stored.area_polygons[code]
    return out


def _grid_polygons(
    plan: Plan, gm: list[list[int]], kept: dict[int, object], stored: StoredPlan | None
) -> list:
    """Grids whose areas are all kept and are the stored grid's areas: the stored polygon; the others
    dissolved from their areas."""
    out: list = [None] * plan.n_grids
    todo = []
    if stored is not None:
        areas_of: dict[str, set[str]] = defaultdict(set)
        for a, g in stored.area_grid.items():
            areas_of[g].add(a)
    for g, areas in enumerate(gm):
        code = plan.grid_codes[g]
        if (
            stored is not None
            and code in stored.grid_polygons
            and all(a in kept for a in areas)
            and {plan.area_codes[a] for a in areas} == areas_of.get(code)
        ):
            out[g] = stored.grid_polygons[code]
        else:
            todo.append(g)
    for g, poly in zip(todo, dissolve(plan.area_polygons, [gm[g] for g in todo]), strict=True):
        out[g] = poly
    return out


def _reached(plan: Plan, r: RegridInputs) -> set[int]:
    """Areas that are not exactly an area of the previous plan (the change reached them)."""
    count_before = Counter(a for a, _g in r.previous.values())
    codes: list[Counter[str]] = [Counter() for _ in range(plan.n_areas)]
    for it, a in zip(plan.items, plan.area_of, strict=True):
        for key in _hids(it, r.household_ids):
            codes[a][r.previous[key][0] if key in r.previous else ""] += 1
    out = set()
    for a, c in enumerate(codes):
        (code, n), *others = c.most_common(2) if c else (("", 0),)
        if others or not code or count_before[code] != n:
            out.add(a)
    return out


def _hids(it: Item, ids: dict[str, tuple[str, ...]]) -> list[tuple[str, str]]:
    bid = ids.get(it.building) or ()
    return [(it.building, bid[h] if bid else str(h)) for h in range(it.first, it.first + it.count)]


def regrid_inputs(community: CommunityIn, previous: PreviousCodes, config: Config) -> RegridInputs:
    """Prepare the community with its buildings cut as the previous plan cut them (geometry)."""
    p = prepare(community, config, items=_items_like_before(community, previous, config))
    ids = {b.id: b.household_ids for b in community.buildings}
    _reslice_toward_previous_areas(p, previous, ids, config)
    return _inputs(p, previous, ids)


def _inputs(p: Prepared, previous: PreviousCodes, ids: dict[str, tuple[str, ...]]) -> RegridInputs:
    """`RegridInputs` of a prepared community: each item's households and the codes they had."""
    block_of = {it.building: b for it, b in zip(p.items, p.blocks, strict=True)}
    hids = [_hids(it, ids) for it in p.items]
    area_code, grid_votes = [], []
    for keys in hids:
        codes = [previous[k] for k in keys if k in previous]
        areas = Counter(a for a, _ in codes)
        area_code.append(areas.most_common(1)[0][0] if areas else "")
        grid_votes.append(Counter(g for _, g in codes))
    return RegridInputs(p, previous, hids, ids, block_of, area_code, grid_votes)


def regrid_partition(
    r: RegridInputs, config: Config, *, chains: bool = False, split_new: bool = True
) -> Plan:
    """Items back to the areas they had, new ones joined to a neighbour with room, and only what the
    change broke re-cut (on the neighbour graph alone: donations are recorded, not cut). `chains` (an
    incremental re-grid): a short grid first fills by chains of area moves (`_grids`)."""
    p, previous = r.p, r.previous
    items = p.items
    hids = list(r.hids)
    # 1. Each item goes back to the area most of its households had.
    by_code: dict[str, list[int]] = defaultdict(list)
    unassigned: list[int] = []
    for i in range(len(items)):
        if r.area_code[i]:
            by_code[r.area_code[i]].append(i)
        else:
            unassigned.append(i)
    weights = [it.weight for it in items]
    xs, ys = p.centres[:, 0].tolist(), p.centres[:, 1].tolist()
    blk = np.asarray(p.blocks, dtype=np.int64)
    adj = respect_barriers(p.adj, blk, np.array(weights), config.area_min, config.area_max)
    groups = [g for g in by_code.values() if g]
    old_sizes: dict[str, int] = {}
    for a, _g in previous.values():
        old_sizes[a] = old_sizes.get(a, 0) + 1
    # Groups the change touched: they lost or gained households (or are new), or are over the maximum
    # (households placed by staff in an area with no room, when they are held to it: no stored plan).
    touched = {
        gi
        for gi, (c, g) in enumerate(by_code.items())
        if sum(items[m].count for m in g) != old_sizes.get(c)
        or sum(items[m].weight for m in g) > config.area_max + 1e-9
    }
    owner = {m: gi for gi, g in enumerate(groups) for m in g}
    sizes = [sum(weights[m] for m in g) for g in groups]
    # Links within a grid (the grid most of an item's households had; an item without votes links
    # anywhere): areas are mended inside their grids first, so that no grid border moves where the
    # numbers allow it (an area code extends its grid's: households moved across are renumbered).
    # (The incremental path only: the full rebuild mends across the grids at once, as it did.)
    inside, grid_of = adj, [""] * len(items)
    if chains and MEND_IN_GRIDS:
        grid_of = [max(v, key=v.__getitem__) if v else "" for v in r.grid_votes]
        inside = list(adj)  # (an item whose links all stay in its grid keeps its set: no copy)
        for i, nbs in enumerate(adj):
            gi = grid_of[i]
            if not gi:
                continue
            for j in nbs:  # (a loop, not `any` over a generator: this runs for every item)
                if grid_of[j] and grid_of[j] != gi:
                    inside[i] = {j for j in nbs if not grid_of[j] or grid_of[j] == gi}
                    break
    # 2. New items join the adjacent group with the most room that stays in range (in their grid if
    # one has room); on the incremental path, one that fits in no group whole is split by unit between
    # two adjacent groups with room (`_split_new`: recorded as a donation, its cell cut as any donor's),
    # else it stands alone.
    before = len(items)  # (given items, of these splits and of `donate` below, come after)
    donations: list[Donation] = []
    area_code = r.area_code

    def grown(given: list[tuple[int, int, str]]) -> None:
        """The lists of this function grown by the items given: (donor, new item, its area code)."""
        for donor, _new, code in given:
            grid_of.append(grid_of[donor])
            area_code.append(code)
        if inside is adj:
            return
        for donor, new, _code in given:  # (the new item's links inside its grid, as the others' above)
            gi = grid_of[donor]
            inside.append({j for j in adj[new] if not gi or not grid_of[j] or grid_of[j] == gi})
        for _donor, new, _code in given:
            for j in inside[new]:
                if inside[j] is not adj[j]:
                    inside[j].add(new)

    split_ok = chains and split_new and SPLIT_NEW
    if split_ok:
        area_code = list(r.area_code)
    alone: list[int] = []  # groups of new items standing alone
    for i in sorted(unassigned, key=lambda i: -weights[i]):
        for links in (inside[i], adj[i]):
            options = {owner[b] for b in links if b in owner}
            fits = [h for h in options if sizes[h] + weights[i] <= config.area_max + 1e-9]
            if fits:
                break
        split = None
        # (a whole new building, not a grown building's run: split, on the demo those lost 1.6-2.4 points)
        if not fits and split_ok and items[i].part == 0:
            for links in (inside[i], adj[i]):
                split = _split_new(i, {owner[b] for b in links if b in owner}, sizes, items, p, config)
                if split is not None:
                    break
        if fits:
            h = min(fits, key=lambda h: sizes[h])
            groups[h].append(i)
        elif split is not None:
            h, gives = split
            for h2, k, t in gives:
                new = _give(i, k, t, groups[h2], items, weights, xs, ys, adj, donations)
                grown([(i, new, "")])
                owner[new] = h2
                sizes[h2] += t
                touched.add(h2)
            groups[h].append(i)
        else:
            groups.append([i])
            sizes.append(0.0)
            h = len(groups) - 1
            alone.append(h)
        touched.add(h)
        owner[i] = h
        sizes[h] += weights[i]
    # New items standing alone, short: a neighbouring area with households to spare gives them a run of
    # a building (`donate`, as a fresh plan's last resort) before the neighbourhood is re-cut.
    short = [h for h in alone if config.area_min - DONATE_MAX - 1e-9 <= sizes[h] < config.area_min - 1e-9]
    if short and split_ok:
        n = len(items)
        groups = donate(
            groups,
            items,
            weights,
            xs,
            ys,
            adj,
            config.area_min,
            config.area_max,
            p.household_weights,
            log=donations,
            only=set(short),
        )
        grown([(d.donor, d.given, area_code[d.donor]) for d in donations if d.given >= n])
    r.split_new = len(items) > before
    # A new building reshapes its neighbours' cells: a group that is no longer in one piece is touched too.
    touched |= {gi for gi, g in enumerate(groups) if len(g) > 1 and not connected(g, adj)}
    # 3. Mend what is out of range or in pieces (only those neighbourhoods change): inside the grids
    # first, then across them for what is still out of range or in pieces; the mend across the grids
    # alone is kept if it leaves fewer areas out of range or in pieces.
    untouched = {frozenset(g) for gi, g in enumerate(groups) if gi not in touched}

    def cost(gs: list[list[int]]) -> tuple[int, int]:
        return _faulty(gs, weights, adj, config), _moved(gs, items, area_code, grid_of)

    mended = _mend_areas(groups, touched, untouched, weights, inside, config, xs, ys)
    if inside != adj and mended == groups:
        # The mend inside the grids changed nothing (the groups it was to mend are the touched ones
        # again): the mend across them from there is the plain one, made once.
        mended = _mend_areas(groups, touched, untouched, weights, adj, config, xs, ys)
    elif inside != adj:
        again = {gi for gi, g in enumerate(mended) if frozenset(g) not in untouched}
        if _faulty([mended[gi] for gi in again], weights, adj, config):  # (else the mend across: no change)
            mended = _mend_areas(mended, again, untouched, weights, adj, config, xs, ys)
        plain = _mend_areas(groups, touched, untouched, weights, adj, config, xs, ys)
        # The two compared on the groups one has and the other has not (the rest counts the same).
        mine, theirs = _apart(plain, mended)
        if cost(mine) < cost(theirs):
            mended = plain
    groups = mended
    # Only groups the change reached take donations: one already short before it stays as it was.
    reached = {gi for gi, g in enumerate(groups) if frozenset(g) not in untouched}
    full = adj is p.adj
    groups = donate(
        groups,
        items,
        weights,
        xs,
        ys,
        adj,
        config.area_min,
        config.area_max,
        p.household_weights,
        log=donations,
        only=reached,
    )
    hids += [_hids(it, r.household_ids) for it in items[before:]]
    area_of = [0] * len(items)
    for a, g in enumerate(groups):
        for m in g:
            area_of[m] = a
    # The areas' graph: links sure to survive the donors' cuts (as in a fresh partition). Only the
    # donors, their neighbours (which borrowed links) and the given items differ from the cells' graph.
    full_adj: list[set[int]] = p.adj[:before] if full else [p.adj[i] | adj[i] for i in range(before)]
    full_adj += [set() for _ in range(before, len(items))]
    affected = {j for d in donations for j in p.adj[d.donor]} | {d.donor for d in donations}
    for i in affected:
        if i < before:
            full_adj[i] = {j for j in full_adj[i] if j < before}
    for d in donations:
        for j in [j for j in full_adj[d.donor] if area_of[j] != area_of[d.donor]]:
            full_adj[d.donor].discard(j)
            full_adj[j].discard(d.donor)
    for d in donations:
        full_adj[d.donor].add(d.given)
        full_adj[d.given].add(d.donor)
    # 4. Grids: an area stays in the grid most of its households had; grids out of range are mended.
    grid_groups: dict[str, list[int]] = defaultdict(list)
    grid_votes = r.grid_votes + [Counter() for _ in range(before, len(items))]  # given items: as their donor
    for d in donations:
        grid_votes[d.given] = grid_votes[d.donor]
    for a, g in enumerate(groups):
        votes: dict[str, int] = {}  # (as a Counter updated by each member's, `max` as `most_common(1)`)
        for m in g:
            for code, n in grid_votes[m].items():
                votes[code] = votes.get(code, 0) + n
        if votes:
            grid_groups[max(votes, key=votes.__getitem__)].append(a)
        else:
            grid_groups[f"new{a}"].append(a)
    plan = Plan(items=items, area_of=area_of, grid_of_area=[0] * len(groups), donations=donations)
    by_grid = list(grid_groups.values())
    plan.grid_of_area = _grids(plan, full_adj, r, config, before, by_grid, chains=chains)
    return plan


def _split_new(
    i: int, options: set[int], sizes: list[float], items: list[Item], p: Prepared, config: Config
) -> tuple[int, list[tuple[int, int, float]]] | None:
    """A new item that fits in no adjacent group whole, split by unit between two of `options` with room
    (three where two have not): the group keeping its first households, and the groups taking runs from
    its end, each (group, households, weight), in the order they are cut off; the groups' largest size
    after it as small as can be (then the lower indices). None if no two (three) groups have the room.
    Each stays within `area_max`; none is asked to reach `area_min`."""
    it = items[i]
    hw = p.household_weights[it.building][it.first : it.first + it.count]
    hi = config.area_max + 1e-9
    tails = [0.0]  # weight of the last k households
    for w in reversed(hw):
        tails.append(tails[-1] + w)
    ranked = sorted(options)
    best = None
    for h in ranked:
        for h2 in ranked:
            if h2 == h:
                continue
            for k in range(1, it.count):
                a, b = sizes[h] + it.weight - tails[k], sizes[h2] + tails[k]
                if a <= hi and b <= hi:
                    score = (max(a, b), h, h2, k)
                    if best is None or score < best[0]:
                        best = (score, (h, [(h2, k, tails[k])]))
    if best is not None or len(ranked) < 3:
        return None if best is None else best[1]
    # Three groups: h2 takes the last k2 households, h3 the k3 before them, h the rest.
    room = {h: config.area_max - sizes[h] for h in ranked}
    top = sorted(ranked, key=lambda h: (-room[h], h))[:6]  # (the groups with the most room suffice)
    for h in top:
        for h2 in top:
            for h3 in top:
                if len({h, h2, h3}) < 3:
                    continue
                for k2 in range(1, it.count - 1):
                    for k3 in range(1, it.count - k2):
                        t2, t3 = tails[k2], tails[k2 + k3] - tails[k2]
                        a = sizes[h] + it.weight - t2 - t3
                        b, c = sizes[h2] + t2, sizes[h3] + t3
                        if a <= hi and b <= hi and c <= hi:
                            score = (max(a, b, c), h, h2, h3, k2, k3)
                            if best is None or score < best[0]:
                                best = (score, (h, [(h2, k2, t2), (h3, k3, t3)]))
    return None if best is None else best[1]


def _give(
    i: int,
    k: int,
    t: float,
    group: list[int],
    items: list[Item],
    weights: list[float],
    xs: list[float],
    ys: list[float],
    adj: list[set[int]],
    log: list[Donation],
) -> int:
    """Item `i`'s last `k` households (weight `t`) made a new item of `group`, as `donate` gives a run: the
    new item borrows `i`'s links (and `i`), the donation logged (its cell is cut toward the group's centre
    when the shared buildings are cut). Returns the new item's index."""
    item = items[i]
    top = max(it.part for it in items if it.building == item.building)
    cx = sum(xs[m] for m in group) / len(group)
    cy = sum(ys[m] for m in group) / len(group)
    items[i] = Item(item.building, item.part, item.first, item.count - k, item.weight - t, item.x, item.y)
    items.append(Item(item.building, top + 1, item.first + item.count - k, k, t, item.x, item.y))
    new = len(items) - 1
    log.append(Donation(i, new, cx, cy, t / max(item.weight, 1e-9)))
    weights[i] -= t
    weights.append(t)
    xs.append(xs[i])
    ys.append(ys[i])
    adj.append(set(adj[i]) | {i})
    for nb in adj[new]:
        adj[nb].add(new)
    group.append(new)
    return new


def _mend_areas(
    groups: list[list[int]],
    touched: set[int],
    untouched: set[frozenset[int]],
    weights: list[float],
    adj: list[set[int]],
    config: Config,
    xs: list[float],
    ys: list[float],
) -> list[list[int]]:
    """The touched groups mended on the links `adj`: whole-building chains for the short ones, then
    `mend` re-cuts, then groups in pieces split (`_no_pieces`). Untouched groups stay as they are.
    (`groups` is not changed: the steps below make new lists.)"""
    touched = set(touched)
    # Whole-building chains first (a short group pulls from or merges into its neighbours, who pass
    # items on): a few households change area, where a re-cut of the neighbourhood may change many.
    short = {gi for gi in touched if sum(weights[m] for m in groups[gi]) < config.area_min - 1e-9}
    if short:
        groups = fill_by_chains(
            groups, weights, adj, config.area_min, config.area_max, xs, ys, focus=short, keep_empty=True
        )
        touched |= {gi for gi, g in enumerate(groups) if frozenset(g) not in untouched and g}
        keep = [gi for gi, g in enumerate(groups) if g]
        index = {gi: k for k, gi in enumerate(keep)}
        groups = [groups[gi] for gi in keep]
        touched = {index[gi] for gi in touched if gi in index}
    groups = mend(groups, weights, adj, config.area_min, config.area_max, xs, ys, set(), focus=touched)
    return _no_pieces(groups, weights, adj, config.area_max)


def _apart(a: list[list[int]], b: list[list[int]]) -> tuple[list[list[int]], list[list[int]]]:
    """The groups of `a` that are not groups of `b`, and those of `b` not of `a`."""
    ka, kb = [frozenset(g) for g in a], [frozenset(g) for g in b]
    sa, sb = set(ka), set(kb)
    return [g for g, k in zip(a, ka, strict=True) if k not in sb], [
        g for g, k in zip(b, kb, strict=True) if k not in sa
    ]


def _moved(groups: list[list[int]], items: list[Item], area_code: list[str], grid_of: list[str]) -> int:
    """Households whose group is not mostly of their area code in force, plus those whose group is not
    mostly of their grid (counted twice: they change grid, and the grids' sizes with them)."""
    out = 0
    for g in groups:
        codes: Counter[str] = Counter()
        grids: Counter[str] = Counter()
        for m in g:
            codes[area_code[m]] += items[m].count
            grids[grid_of[m]] += items[m].count
        code, grid = codes.most_common(1)[0][0], grids.most_common(1)[0][0]
        out += sum(items[m].count for m in g if area_code[m] != code)
        out += sum(items[m].count for m in g if grid_of[m] != grid)
    return out


def _faulty(groups: list[list[int]], weights: list[float], adj: list[set[int]], config: Config) -> int:
    """Groups out of range or in pieces."""
    lo, hi = config.area_min - 1e-9, config.area_max + 1e-9
    return sum(
        not lo <= sum(weights[m] for m in g) <= hi or (len(g) > 1 and not connected(g, adj)) for g in groups
    )


def _grids(
    plan: Plan,
    adj: list[set[int]],
    r: RegridInputs,
    config: Config,
    n0: int,
    grids: list[list[int]] | None = None,
    *,
    chains: bool = False,
) -> list[int]:
    """Grid of each area: the grids as they are (or `grids`), merged or traded with neighbours until in
    range. The range is wide, so this suffices (as in a fresh plan); an undersized grid takes a single
    area from a neighbour before it is merged whole (fewer codes change); with `chains` (an incremental
    re-grid), it first takes areas passed along a chain of grids from one with room (`fill_by_chains`)."""
    again = grids is None
    if grids is None:
        members: dict[int, list[int]] = defaultdict(list)
        for a, g in enumerate(plan.grid_of_area):
            members[g].append(a)
        grids = list(members.values())
    a_w = plan.area_weights()
    a_adj: list[set[int]] = [set() for _ in range(plan.n_areas)]
    for i, nbs in enumerate(adj):
        ai = plan.area_of[i]
        for j in nbs:
            if plan.area_of[j] != ai:
                a_adj[ai].add(plan.area_of[j])
    # (plain dicts, not Counters: made per area on every call; `max` breaks ties as `most_common(1)`)
    votes: list[dict[int, int]] = [{} for _ in range(plan.n_areas)]
    for it, a in zip(plan.items, plan.area_of, strict=True):
        v, b = votes[a], r.block_of.get(it.building, 0)
        v[b] = v.get(b, 0) + 1
    a_blk = np.array([max(v, key=v.__getitem__) if v else 0 for v in votes], dtype=np.int64)
    a_adj = respect_barriers(a_adj, a_blk, np.array(a_w), config.grid_min, config.grid_max)
    lo, hi = config.grid_min - 1e-9, config.grid_max + 1e-9
    if not chains:  # (the full rebuild: as it was)
        grids = repair(grids, a_w, a_adj, config.grid_min, config.grid_max, take_first=True)
        return _grid_of_area(plan, grids)
    known: dict[str, Any] = {}

    def origin() -> dict[int, str]:
        """Each area's grid in force: the one most of its households had (made when first asked)."""
        if "origin" not in known:
            was: list[Counter[str]] = [Counter() for _ in range(plan.n_areas)]
            for i, a in enumerate(plan.area_of):
                was[a].update(r.grid_votes[i] if i < len(r.grid_votes) else {})
            known["origin"] = {a: v.most_common(1)[0][0] for a, v in enumerate(was) if v}
        return known["origin"]

    def settle(grids: list[list[int]], short: set[int]) -> list[list[int]]:
        if short:
            if "xs" not in known:
                known["xs"], known["ys"] = _area_centres(plan)
            xs, ys = known["xs"], known["ys"]
            # A short grid takes areas passed along a chain of neighbouring grids from one with room:
            # each area moved changes its households' codes, merging two grids changes a whole grid's.
            grids = fill_by_chains(
                grids,
                a_w,
                a_adj,
                config.grid_min,
                config.grid_max,
                xs,
                ys,
                focus=short,
                keep_empty=True,
                pushing=False,
            )
            grids = [g for g in grids if g]
        return repair(grids, a_w, a_adj, config.grid_min, config.grid_max, take_first=True)

    def cost(gs: list[list[int]]) -> tuple[int, float]:
        out = sum(not lo <= sum(a_w[a] for a in g) <= hi for g in gs)
        pieces = sum(len(g) > 1 and not connected(g, a_adj) for g in gs)
        return out + pieces, _grid_moved(gs, origin(), a_w)

    def solve(grids: list[list[int]]) -> list[list[int]]:
        grids = [g for g in grids if g]
        broken = {gi for gi, g in enumerate(grids) if TAKE_AREAS and not connected(g, a_adj)}
        short = {gi for gi, g in enumerate(grids) if sum(a_w[a] for a in g) < lo}

        def mended(grids: list[list[int]]) -> list[list[int]]:
            if TAKE_AREAS:
                # A grid in pieces (cut cells moved a border it relied on) keeps its biggest piece; the
                # others join a neighbouring grid with room (`_no_pieces`), and a piece left short
                # takes areas (split and merged whole by `repair`, a grid's every household may move).
                grids = _no_pieces(grids, a_w, a_adj, config.grid_max)
            return settle(grids, {gi for gi, g in enumerate(grids) if sum(a_w[a] for a in g) < lo})

        plain = mended(grids) if broken else settle(grids, short)
        if broken:  # main's way (chains + repair on the grids as they are) stays a candidate
            as_main = settle(grids, short)
            if cost(as_main) < cost(plain):
                plain = as_main
        if (short or broken) and TAKE_AREAS:
            # Or a short grid, or one in pieces, first takes whole areas from neighbouring grids with
            # room to spare (`_take_areas`: several where one area is not enough, where a chain of one
            # move each would dissolve the grid; an area joining its pieces); the way that leaves fewer
            # grids out of range or in pieces, then moves fewer households to another grid, is kept
            # (the chains on a tie).
            taken = mended(_take_areas(grids, a_w, a_adj, config, short | broken))
            if JOIN_BY_CHAIN:  # (areas no longer needed where they were taken go back to their grid)
                taken = _return_home(taken, origin(), a_w, a_adj, lo, hi)
            if cost(taken) < cost(plain):
                plain = taken
        return plain

    best = solve(grids)
    if TAKE_AREAS and again:
        # Called again after the shared buildings were cut: the grids in force as a start too (the
        # partition's grids may have been left in pieces by the cuts).
        start: dict[str, list[int]] = defaultdict(list)
        for a in range(plan.n_areas):
            start[origin().get(a, f"new{a}")].append(a)
        other = solve(list(start.values()))
        if cost(other) < cost(best):
            best = other
    return _grid_of_area(plan, best)


def _grid_of_area(plan: Plan, grids: list[list[int]]) -> list[int]:
    out = [0] * plan.n_areas
    for gi, g in enumerate(grids):
        for a in g:
            out[a] = gi
    return out


def _area_centres(plan: Plan) -> tuple[list[float], list[float]]:
    """Each area's items' mean position."""
    sx, sy, n = [0.0] * plan.n_areas, [0.0] * plan.n_areas, [0] * plan.n_areas
    for it, a in zip(plan.items, plan.area_of, strict=True):
        sx[a] += it.x
        sy[a] += it.y
        n[a] += 1
    return [x / max(1, k) for x, k in zip(sx, n, strict=True)], [
        y / max(1, k) for y, k in zip(sy, n, strict=True)
    ]


def _grid_moved(grids: list[list[int]], origin: dict[int, str], a_w: list[float]) -> float:
    """Households of areas not in the grid most of their new grid's households come from."""
    out = 0.0
    for g in grids:
        votes: Counter[str] = Counter()
        for a in g:
            votes[origin.get(a, "")] += a_w[a]
        top = votes.most_common(1)[0][0]
        out += sum(a_w[a] for a in g if origin.get(a, "") != top)
    return out


def _take_areas(
    grids: list[list[int]], a_w: list[float], a_adj: list[set[int]], config: Config, targets: set[int]
) -> list[list[int]]:
    """Each target grid (short, or in pieces) takes whole areas from neighbouring grids that stay in
    range and in one piece without them, until it is in range and in one piece: an area joining two of
    its pieces first, then one that puts it in range, the smallest such, else the biggest (the fewest
    households change grid; an area code extends its grid's, so only the moved areas' codes change). A
    grid that cannot be mended so is left as it was (for `_no_pieces`, the chains of `fill_by_chains`,
    then `repair`)."""
    lo, hi = config.grid_min - 1e-9, config.grid_max + 1e-9
    out = [list(g) for g in grids]
    for u in sorted(targets):
        trial = [list(g) for g in out]
        owner = {a: gi for gi, g in enumerate(trial) for a in g}
        size = [sum(a_w[a] for a in g) for g in trial]
        while True:
            pieces = components(trial[u], a_adj)
            if size[u] >= lo and len(pieces) == 1:
                break
            piece = {a: k for k, c in enumerate(pieces) for a in c}
            options = []
            for b in {b for a in trial[u] for b in a_adj[a]}:
                h = owner.get(b)
                if h is None or h == u or h in targets or size[h] - a_w[b] < lo or size[u] + a_w[b] > hi:
                    continue
                joins = len({piece[x] for x in a_adj[b] if x in piece}) > 1
                if len(pieces) > 1 and not joins:
                    continue
                if not connected([m for m in trial[h] if m != b], a_adj):
                    continue
                fills = size[u] + a_w[b] >= lo
                options.append((not fills, a_w[b] if fills else -a_w[b], b, h))
            if not options and len(pieces) > 1 and JOIN_BY_CHAIN:
                # No grid with room has an area joining the pieces: an area of a grid at its minimum
                # joins them, that grid taking an area from a neighbouring grid with room in turn.
                two = _join_by_chain(u, trial, owner, size, piece, a_w, a_adj, targets, lo, hi)
                if two is not None:
                    for b, h, k in two:
                        trial[h].remove(b)
                        trial[k].append(b)
                        owner[b] = k
                        size[h] -= a_w[b]
                        size[k] += a_w[b]
                    continue
            if not options:
                break
            _, _, b, h = min(options)
            trial[h].remove(b)
            trial[u].append(b)
            owner[b] = u
            size[h] -= a_w[b]
            size[u] += a_w[b]
        if size[u] >= lo and connected(trial[u], a_adj):
            out = trial
    return out


def _join_by_chain(
    u: int,
    grids: list[list[int]],
    owner: dict[int, int],
    size: list[float],
    piece: dict[int, int],
    a_w: list[float],
    a_adj: list[set[int]],
    targets: set[int],
    lo: float,
    hi: float,
) -> list[tuple[int, int, int]] | None:
    """For grid `u` in pieces (`piece`: its areas' piece): an area b of a neighbouring grid h joining two
    pieces, h left short by it taking an area c of a grid k with room (k not u, not a target), each grid
    in range and in one piece after; the pair moving the fewest households. The moves in order, each
    (area, from grid, to grid): [(b, h, u), (c, k, h)]; None if there is no such pair."""
    best = None
    for b in sorted({b for a in grids[u] for b in a_adj[a]}):
        h = owner.get(b)
        if h is None or h == u or h in targets or size[u] + a_w[b] > hi:
            continue
        if len({piece[x] for x in a_adj[b] if x in piece}) < 2:
            continue
        rest = [m for m in grids[h] if m != b]
        if not rest:
            continue
        for c in sorted({c for a in rest for c in a_adj[a]}):
            k = owner.get(c)
            if k is None or k in (u, h) or k in targets or size[k] - a_w[c] < lo:
                continue
            after = size[h] - a_w[b] + a_w[c]
            if not lo <= after <= hi:
                continue
            moved = a_w[b] + a_w[c]
            if best is not None and (moved, b, c) >= best[0]:
                continue
            if not connected([*rest, c], a_adj) or not connected([m for m in grids[k] if m != c], a_adj):
                continue
            best = ((moved, b, c), [(b, h, u), (c, k, h)])
    return None if best is None else best[1]


def _return_home(
    grids: list[list[int]],
    origin: dict[int, str],
    a_w: list[float],
    a_adj: list[set[int]],
    lo: float,
    hi: float,
) -> list[list[int]]:
    """Areas in a grid other than the one they were in (`origin`: the grid code most of their
    households had) go back to it where both grids stay in range and in one piece (a grid's code: its
    areas' most common origin)."""
    out = [list(g) for g in grids]
    size = [sum(a_w[a] for a in g) for g in out]
    code_of = [Counter(origin[a] for a in g if a in origin).most_common(1) for g in out]
    index: dict[str, int] = {}
    for gi, c in enumerate(code_of):
        if c:
            index.setdefault(c[0][0], gi)
    moved = True
    while moved:
        moved = False
        for gi, g in enumerate(out):
            for a in sorted(g):
                home = index.get(origin.get(a, ""))
                if home is None or home == gi or not code_of[gi] or origin[a] == code_of[gi][0][0]:
                    continue
                if size[gi] - a_w[a] < lo or size[home] + a_w[a] > hi:
                    continue
                if not any(b in a_adj[a] for b in out[home]):
                    continue
                rest = [m for m in g if m != a]
                if not rest or not connected(rest, a_adj):
                    continue
                g.remove(a)
                out[home].append(a)
                size[gi] -= a_w[a]
                size[home] += a_w[a]
                moved = True
    return out


def _no_pieces(
    groups: list[list[int]], weights: list[float], adj: list[set[int]], hi: float
) -> list[list[int]]:
    """A group still in pieces keeps its biggest piece; the others join a neighbour with room, or stand
    alone (then reported as out of range rather than as a group in several pieces)."""
    out = [list(g) for g in groups]
    extra: list[list[int]] = []
    for gi in range(len(out)):  # (out, not groups: a piece may have joined a later group)
        g = out[gi]
        if len(g) < 2 or connected(g, adj):
            continue
        comps = sorted(components(g, adj), key=lambda c: -sum(weights[m] for m in c))
        out[gi] = comps[0]
        owner = {m: k for k, gg in enumerate(out) for m in gg}
        for comp in comps[1:]:
            w = sum(weights[m] for m in comp)
            options = {owner[b] for a in comp for b in adj[a] if b in owner and owner[b] != gi}
            fits = [h for h in options if sum(weights[m] for m in out[h]) + w <= hi + 1e-9]
            if fits:
                out[min(fits, key=lambda h: sum(weights[m] for m in out[h]))].extend(comp)
            else:
                extra.append(comp)
    return [g for g in out if g] + extra


def _reslice_toward_previous_areas(p, previous: PreviousCodes, ids, config: Config) -> None:
    """Cut buildings whose households sat in several areas so each piece faces its own area, by the
    rule a fresh plan uses (`face_areas`), then refresh those cells' neighbours."""
    items = p.items
    code_of = []
    for it in items:
        bid = ids.get(it.building) or ()
        code_of.append(previous.get((it.building, bid[it.first] if bid else str(it.first)), ("", ""))[0])
    touched, _ = face_areas(items, p.cells, code_of, p.adj, config.min_shared_border, p.angles, p.wholes)
    for i in touched:
        p.centres[i] = (p.cells[i].centroid.x, p.cells[i].centroid.y)


def _items_like_before(community: CommunityIn, previous: PreviousCodes, config: Config) -> list[Item]:
    """Cut each building where the previous plan cut it (runs of households sharing an area), so that
    earlier splits and donations survive; households new to the plan are cut as in a fresh plan."""
    items: list[Item] = []
    for b in community.buildings:
        codes = [previous.get((b.id, b.hid(h)), ("", ""))[0] for h in range(len(b.weights))]
        runs: list[tuple[int, int, str]] = []
        for h, c in enumerate(codes):
            if runs and runs[-1][2] == c:
                runs[-1] = (runs[-1][0], h + 1, c)
            else:
                runs.append((h, h + 1, c))
        if len(runs) == 1 and b.weight <= config.area_max + 1e-9:
            items.append(Item(b.id, 0, 0, len(b.weights), b.weight, b.x, b.y))
            continue
        part = 0
        for i, j, _code in runs:
            w = float(sum(b.weights[i:j]))
            if w <= config.area_max + 1e-9:  # (a run over the maximum is cut, coded or not)
                part += 1
                items.append(Item(b.id, part, i, j - i, w, b.x, b.y))
                continue
            sub = BuildingIn(b.id, b.x, b.y, b.weights[i:j])
            for piece in split_buildings([sub], config)[0]:
                part += 1
                items.append(Item(b.id, part, i + piece.first, piece.count, piece.weight, b.x, b.y))
    return items


def _codes(
    plan: Plan,
    previous: PreviousCodes,
    code: str,
    hids,
    *,
    retire: bool = False,
    held: PreviousCodes | None = None,
) -> None:
    """Give each grid and area the old code most of its households carried, else the next free one.
    `retire` (an incremental re-grid): a new area's code is none in force (an area whose households all
    moved to another grid leaves a code free in its old grid: given to other households, the same code
    would name someone else), unless the grid has no other left. `held` (`held_codes`): only households
    held to their codes vote for an area's code — a new building's households, placed by staff in an area
    a moment ago, do not take its code from the households (and the member) that area had."""
    held = previous if held is None else held
    area_hh: list[list[tuple[str, str]]] = [[] for _ in range(plan.n_areas)]
    for i, a in enumerate(plan.area_of):
        area_hh[a].extend(hids(i))
    grid_votes: list[Counter] = [Counter() for _ in range(plan.n_grids)]
    area_votes: list[Counter] = [Counter() for _ in range(plan.n_areas)]
    for a, hh in enumerate(area_hh):
        for k in hh:
            if k in previous:
                if k in held:
                    area_votes[a][previous[k][0]] += 1
                grid_votes[plan.grid_of_area[a]][previous[k][1]] += 1
    grid_codes = _claim(
        grid_votes,
        [
            len([h for a, g in enumerate(plan.grid_of_area) if g == gi for h in area_hh[a]])
            for gi in range(plan.n_grids)
        ],
        lambda used: _next_code(code, used, 3),
    )
    in_force = {a for a, _g in previous.values()} if retire else set()
    area_codes: list[str] = [""] * plan.n_areas
    for gi, gcode in enumerate(grid_codes):
        members = [a for a, g in enumerate(plan.grid_of_area) if g == gi]
        votes = [Counter({c: n for c, n in area_votes[a].items() if c.startswith(gcode)}) for a in members]
        codes = _claim(
            votes, [len(area_hh[a]) for a in members], lambda used, g=gcode: _fresh_area(g, used, in_force)
        )
        for a, c in zip(members, codes, strict=True):
            area_codes[a] = c
    plan.grid_codes = grid_codes
    plan.area_codes = area_codes


def _claim(votes: list[Counter], sizes: list[int], fresh) -> list[str]:
    """Greedy matching: the biggest shares claim their old code first; a code needs > half the group."""
    pairs = sorted(((n, i, c) for i, v in enumerate(votes) for c, n in v.items()), reverse=True)
    out: list[str] = [""] * len(votes)
    used: set[str] = set()
    for n, i, c in pairs:
        if out[i] or c in used or n * 2 <= sizes[i]:
            continue
        out[i] = c
        used.add(c)
    used |= {c for v in votes for c in v}  # never reuse a code that still names other households
    for i in range(len(out)):
        if not out[i]:
            out[i] = fresh(used)
            used.add(out[i])
    return out


def _fresh_area(prefix: str, used: set[str], retired: set[str]) -> str:
    """The next free area code under grid `prefix`, none of `retired` if one is left."""
    try:
        return _next_code(prefix, used | retired, 2)
    except ValueError:
        return _next_code(prefix, used, 2)


def _next_code(prefix: str, used: set[str], digits: int) -> str:
    taken = {
        int(c[len(prefix) : len(prefix) + digits])
        for c in used
        if c.startswith(prefix) and c[len(prefix) : len(prefix) + digits].isdigit()
    }
    n = 1
    while n in taken:
        n += 1
    if n >= 10**digits:
        raise ValueError(f"no free {digits}-digit code left under {prefix}")
    return f"{prefix}{n:0{digits}d}"


__all__ = ["PreviousCodes", "RegridInputs", "held_codes", "regrid", "regrid_inputs", "regrid_partition"]
