"""Areas left out of range: the last pocket mended (`pocket`); the nearest alternative of the rest."""

from __future__ import annotations

import numpy as np
import pytest

from gridgov.gridding.algorithm import Config, plan_community
from gridgov.gridding.algorithm.model import Item, Plan, Problem
from gridgov.gridding.algorithm.nearest import explain, nearest_change
from gridgov.gridding.algorithm.repair import components
from gridgov.gridding.algorithm.synthetic import lattice_community
from gridgov.gridding.algorithm.tessellate import adjacency

from .test_recut import _city_community

CFG = Config()


def apply_change(change, group_of: list[int]) -> list[int]:
    out = list(group_of)
    for u, a, b in change.moves:
        assert out[u] == a
        out[u] = b
    if change.merge is not None:
        g, into = change.merge
        out = [into if x == g else x for x in out]
    return out


def sizes_of(weights, group_of) -> dict[int, float]:
    out: dict[int, float] = {}
    for w, g in zip(weights, group_of, strict=True):
        out[g] = out.get(g, 0.0) + w
    return out


def test_plan_community_mends_the_last_pocket_of_the_bench_city():
    # Before `pocket` this community of the bench city kept an area of 9 households (two runs of a
    # 23-household building) in a pocket of three areas holding 42, with neighbours at 18 and 19
    # outside: no single re-cut, no two buildings shared out together mended it.
    c = _city_community(235)
    plan = plan_community(c, CFG, code="C")
    assert all(CFG.area_min <= w <= CFG.area_max for w in plan.area_weights())
    assert not [p for p in plan.problems if p.kind in ("out_of_range", "not_contiguous")]
    assert all(g.geom_type == "Polygon" for g in plan.area_polygons)
    assert len(plan.household_area()) == sum(len(b.weights) for b in c.buildings)


# A chain of six units: A = {0, 1} holds 9, B = {2, 3} 20, C = {4, 5} 20.
CHAIN = [{1}, {0, 2}, {1, 3}, {2, 4}, {3, 5}, {4}]


def test_nearest_change_finds_the_shortest_chain_that_puts_every_area_in_range():
    weights, group_of = [5, 4, 6, 14, 4, 16], [0, 0, 1, 1, 2, 2]
    change = nearest_change(weights, group_of, CHAIN, 0, 15, 20)
    assert change is not None and change.feasible
    # B gives A its unit of 6 (A 15, B 14), B takes C's unit of 4 (B 18, C 16).
    assert change.moves == ((2, 1, 0), (4, 2, 1)) and change.merge is None
    after = apply_change(change, group_of)
    sizes = sizes_of(weights, after)
    assert sizes == {0: 15, 1: 18, 2: 16} == change.sizes
    for g in set(after):
        assert len(components([u for u, x in enumerate(after) if x == g], CHAIN)) == 1


def test_nearest_change_gives_the_least_bad_one_where_none_is_feasible():
    # A = 5 + 4, B = 4 + 16: 29 households fit neither one area nor two. Taking B's unit of 4 leaves A
    # 2 under (B 16), nearer than the plan as it is (A 6 under) and than merging (29, 9 over).
    weights, group_of = [5, 4, 4, 16], [0, 0, 1, 1]
    links = [{1}, {0, 2}, {1, 3}, {2}]
    change = nearest_change(weights, group_of, links, 0, 15, 20)
    assert change is not None and not change.feasible
    assert change.moves == ((2, 1, 0),) and change.merge is None
    assert change.sizes == {0: 13.0, 1: 16.0} and change.off == 2.0
    # A merge where it is the nearest: 12 and 9 → 21 (1 over) against 3 under.
    merged = nearest_change([12.0, 9.0], [0, 1], [{1}, {0}], 0, 15, 20)
    assert merged is not None and merged.merge == (0, 1) and merged.sizes == {1: 21.0}
    # Nothing nearer than the plan itself: no alternative.
    assert nearest_change([12.0], [0], [set()], 0, 15, 20) is None


def test_nearest_change_keeps_every_area_whole_and_never_empties_one():
    # A unit whose removal would cut its area in two is never moved.
    weights, group_of = [5, 4, 2, 9, 9], [0, 0, 1, 1, 1]  # B = 2 | 9 | 9 in a line: 2 links A to B's rest
    links = [{1}, {0, 2}, {1, 3}, {2, 4}, {3}]
    change = nearest_change(weights, group_of, links, 0, 15, 20, depth=1)
    assert change is None or all(u != 3 for u, _a, _b in change.moves)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_claimed_feasible_alternative_puts_every_area_it_touches_in_range(seed):
    # Plans of a lattice community with one unit moved at random: whatever alternative is claimed
    # feasible does put every area in range, in one piece, none emptied.
    c = lattice_community(150, seed=seed)
    plan = plan_community(c, CFG)
    links = adjacency(plan.item_cells, CFG.min_shared_border)
    weights = [it.weight for it in plan.items]
    rng = np.random.default_rng(seed)
    found = 0
    for _ in range(20):
        group_of = list(plan.area_of)
        u = int(rng.integers(len(weights)))
        others = sorted({group_of[j] for j in links[u]} - {group_of[u]})
        rest = [v for v, x in enumerate(group_of) if x == group_of[u] and v != u]
        if not others or not rest or len(components(rest, links)) > 1:
            continue
        group_of[u] = others[0]
        bad = [g for g, w in sizes_of(weights, group_of).items() if not 15 <= w <= 20]
        if not bad:
            continue
        change = nearest_change(weights, group_of, links, bad[0], 15, 20)
        if change is None or not change.feasible:
            continue
        found += 1
        after = apply_change(change, group_of)
        sizes = sizes_of(weights, after)
        assert all(15 <= sizes[g] <= 20 for g in change.sizes)
        assert bad[0] not in sizes or 15 <= sizes[bad[0]] <= 20
        for g in {g for _u, a, b in change.moves for g in (a, b)}:
            assert len(components([v for v, x in enumerate(after) if x == g], links)) == 1
    assert found


def test_explain_says_the_moves_and_the_sizes_by_code():
    items = [Item(f"b{k}", 0, 0, int(w), float(w), float(k), 0.0) for k, w in enumerate([5, 4, 6, 14, 4, 16])]
    plan = Plan(items=items, area_of=[0, 0, 1, 1, 2, 2], grid_of_area=[0, 0, 0])
    plan.area_codes, plan.grid_codes = ["C00101", "C00102", "C00103"], ["C001"]
    plan.household_ids = {"b2": ("h20", "h21", "h22", "h23", "h24", "h25")}
    params = {"level": "area", "weight": 9.0, "lo": 15, "hi": 20, "code": "C00101"}
    plan.problems = [Problem("out_of_range", "area C00101 holds 9 (range 15–20)", ("C00101",), params=params)]
    explain(plan, CHAIN, Config(grid_min=1))
    p = plan.problems[0]
    alt = p.params["alternative"]
    assert alt["feasible"] and alt["sizes"] == {"C00101": 15.0, "C00102": 18.0, "C00103": 16.0}
    assert alt["steps"][0] == {
        "op": "move",
        "building": "b2",
        "part": 0,
        "households": 6,
        "weight": 6.0,
        "household": "h20",
        "from": "C00102",
        "to": "C00101",
    }
    assert [(s["from"], s["to"]) for s in alt["steps"]] == [("C00102", "C00101"), ("C00103", "C00102")]
    assert p.alternative.startswith("move building b2 (6 households) from area C00102 to area C00101; then")
    assert p.alternative.endswith("→ C00101 15, C00102 18, C00103 16")


def test_explain_moves_whole_areas_between_grids_for_a_grid_out_of_range():
    # Ten areas of 15 in a row: grid 001 holds the first two (30), grid 002 the other eight (120), for a
    # grid range of 40–100: two areas move over (45 | 105, then 60 | 90).
    items = [Item(f"b{k}", 0, 0, 15, 15.0, float(k), 0.0) for k in range(10)]
    links = [{j for j in (k - 1, k + 1) if 0 <= j < 10} for k in range(10)]
    plan = Plan(items=items, area_of=list(range(10)), grid_of_area=[0, 0] + [1] * 8)
    plan.area_codes = [f"C{1 if a < 2 else 2:03d}{a + 1:02d}" for a in range(10)]
    plan.grid_codes = ["C001", "C002"]
    params = {"level": "grid", "weight": 30.0, "lo": 40, "hi": 100, "code": "C001"}
    plan.problems = [Problem("out_of_range", "grid C001 holds 30 (range 40–100)", ("C001",), params=params)]
    explain(plan, links, Config(grid_min=40, grid_max=100))
    alt = plan.problems[0].params["alternative"]
    assert alt["feasible"] and alt["sizes"] == {"C001": 60.0, "C002": 90.0}
    assert [(s["op"], s["area"], s["from"], s["to"]) for s in alt["steps"]] == [
        ("move_area", "C00203", "C002", "C001"),
        ("move_area", "C00204", "C002", "C001"),
    ]
    assert plan.problems[0].alternative.startswith("move area C00203 from grid C002 to grid C001; then")


def test_share_out_lists_every_count_of_runs_when_asked():
    from gridgov.gridding.algorithm.recut import share_out

    # A building of 18 alone in area 0, next to area 1 holding 12: kept whole is a solution (one run),
    # which hides the cuts unless every count of runs is asked for (the pocket pass needs them).
    args = ((1.0,) * 18, [0, 1], {0: 0.0, 1: 12.0}, {0: 18.0}, 15, 20)
    assert all(sum(e > s for _a, s, e in sol) == 1 for sol in share_out(*args, target=0))
    every = share_out(*args, target=0, max_runs=2, every=True)
    assert every[0] == [(0, 0, 18), (1, 18, 18)]  # fewest runs still first
    assert [(0, 0, 15), (1, 15, 18)] in every  # 15 | 12 + 3
