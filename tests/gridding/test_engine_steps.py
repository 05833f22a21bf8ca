"""Steps of the gridding engine on their own: exact cuts, chains of moves, donations, facing cells."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgov.gridding.algorithm import Config, plan_community
from gridgov.gridding.algorithm.chains import fill_by_chains
from gridgov.gridding.algorithm.donate import Donation, undo
from gridgov.gridding.algorithm.engine import ORIENTATIONS, _small_cuts, best_partition, partition, prepare
from gridgov.gridding.algorithm.model import Item
from gridgov.gridding.algorithm.quality import measure, split_floor, stability
from gridgov.gridding.algorithm.regrid import regrid
from gridgov.gridding.algorithm.synthetic import lattice_community
from gridgov.gridding.algorithm.tessellate import cut_positions, slice_cell

CFG = Config()


def test_cut_positions_leave_exactly_the_asked_share_on_the_left():
    rng = np.random.default_rng(3)
    for _ in range(40):
        pts = rng.uniform(0, 100, (10, 2))
        cell = max(shapely.voronoi_polygons(shapely.multipoints(pts)).geoms, key=lambda p: p.area)
        cell = cell.intersection(shapely.box(0, 0, 100, 100))
        if cell.area > 300:  # a hole, and the ring drawn the other way round
            cell = cell.difference(cell.centroid.buffer(4))
        cell = shapely.Polygon(cell.exterior.coords[::-1], [r.coords for r in cell.interiors])
        shares = sorted(rng.uniform(0.05, 0.95, 3))
        minx, miny, _, maxy = cell.bounds
        for share, x in zip(shares, cut_positions(cell, shares), strict=True):
            left = cell.intersection(shapely.box(minx - 1, miny - 1, x, maxy + 1)).area
            assert left / cell.area == pytest.approx(share, abs=1e-9)


def test_slice_cell_cuts_the_same_way_whatever_the_vertex_order():
    cell = shapely.Polygon([(0, 0), (40, 5), (42, 30), (3, 26)])
    turned = shapely.Polygon(list(cell.exterior.coords)[::-1])
    a, b = slice_cell(cell, [5, 9, 14]), slice_cell(turned, [5, 9, 14])
    assert all(p.symmetric_difference(q).area < 0.01 for p, q in zip(a, b, strict=True))


def test_a_short_group_is_filled_by_a_chain_of_whole_moves():
    # A path 0-1-2-3-4-5-6; group [2] is short; [1] could give but would leave [0, 1] short with no way out;
    # [3] gives instead and [4] takes [5] from the next group: nothing is cut and everyone is in range.
    weights = [8.0, 8.0, 10.0, 6.0, 14.0, 3.0, 16.0]
    adj = [set() for _ in weights]
    for i in range(len(weights) - 1):
        adj[i].add(i + 1)
        adj[i + 1].add(i)
    xs = [float(i) for i in range(len(weights))]
    groups = fill_by_chains([[0, 1], [2], [3, 4], [5, 6]], weights, adj, 15, 20, xs, [0.0] * len(xs))
    assert sorted(sorted(g) for g in groups) == [[0, 1], [2, 3], [4, 5], [6]]


def test_a_short_group_with_no_chain_is_dissolved_into_neighbours_with_room():
    weights = [15.0, 3.0, 16.0]
    adj = [{1}, {0, 2}, {1}]
    groups = fill_by_chains([[0], [1], [2]], weights, adj, 15, 20, [0.0, 1.0, 2.0], [0.0] * 3)
    assert len(groups) == 2 and all(15 <= sum(weights[m] for m in g) <= 20 for g in groups)


def _path(weights: list[float]) -> list[set[int]]:
    adj: list[set[int]] = [set() for _ in weights]
    for i in range(len(weights) - 1):
        adj[i].add(i + 1)
        adj[i + 1].add(i)
    return adj


def test_a_short_group_no_pull_can_fill_merges_and_passes_a_building_on():
    # A path 0-1-2-3: [0] holds 8; taking 1 from [1, 2] leaves 2 alone with 6, and [3] cannot give its
    # only building; [0] cannot be dissolved (8 + 15 > 20). Pushing: [0] joins [1, 2] (23) and 2 goes on
    # to [3] (16): every group in range, nothing cut.
    weights = [8.0, 9.0, 6.0, 10.0]
    adj, xs, ys = _path(weights), [0.0, 1.0, 2.0, 3.0], [0.0] * 4
    assert fill_by_chains([[0], [1, 2], [3]], weights, adj, 15, 20, xs, ys, pushing=False) == [
        [0],
        [1, 2],
        [3],
    ]
    groups = fill_by_chains([[0], [1, 2], [3]], weights, adj, 15, 20, xs, ys)
    assert sorted(groups) == [[0, 1], [2, 3]]


def test_a_group_too_big_passes_whole_buildings_on():
    weights = [8.0, 9.0, 6.0, 10.0]
    adj, xs, ys = _path(weights), [0.0, 1.0, 2.0, 3.0], [0.0] * 4
    groups = fill_by_chains([[0, 1, 2], [3]], weights, adj, 15, 20, xs, ys)
    assert sorted(groups) == [[0, 1], [2, 3]]
    # A building that may not move (shared by several areas) is not passed on.
    assert fill_by_chains([[0, 1, 2], [3]], weights, adj, 15, 20, xs, ys, fixed={2}) == [[0, 1, 2], [3]]


def test_fixed_items_are_neither_moved_by_a_chain_nor_dissolved():
    weights = [15.0, 3.0, 16.0]
    adj = [{1}, {0, 2}, {1}]
    groups = fill_by_chains([[0], [1], [2]], weights, adj, 15, 20, [0.0, 1.0, 2.0], [0.0] * 3, fixed={1})
    assert groups == [[0], [1], [2]]
    kept = fill_by_chains([[0], [1], [2]], weights, adj, 15, 20, [0.0, 1.0, 2.0], [0.0] * 3, keep_empty=True)
    assert len(kept) == 3 and sum(1 for g in kept if not g) == 1


def test_partition_decides_donations_on_the_graph_alone():
    community = lattice_community(400, seed=7)
    p = prepare(community, CFG)
    n0 = len(p.items)
    plan = partition(p.items, p.adj, p.blocks, CFG, centres=p.centres, household_weights=p.household_weights)
    assert plan.donations, "this community needs donations"
    for d in plan.donations:
        assert d.given >= n0 and plan.items[d.given].building == plan.items[d.donor].building
    counted = {}
    for it in plan.items:
        counted[it.building] = counted.get(it.building, 0) + it.count
    assert counted == {b.id: len(b.weights) for b in community.buildings}


def test_undoing_a_donation_gives_the_households_back_and_recuts_the_cell():
    items = [Item("a", 0, 0, 7, 7.0, 5, 5), Item("b", 0, 0, 12, 12.0, 15, 5), Item("a", 1, 7, 3, 3.0, 5, 5)]
    cells = [shapely.box(0, 0, 8, 10), shapely.box(10, 0, 20, 10), shapely.box(8, 0, 10, 10)]
    adj = [{1, 2}, {0, 2}, {0, 1}]
    donation = Donation(donor=0, given=2, toward_x=15, toward_y=5, share=0.3)
    items, area_of, rest = undo(items, [0, 1, 1], cells, adj, [donation], {"a"}, 0.5)
    assert [(it.building, it.count) for it in items] == [("a", 10), ("b", 12)]
    assert area_of == [0, 1] and rest == []
    assert cells[0].area == pytest.approx(100.0) and adj == [{1}, {0}]


@pytest.mark.parametrize("irregular", [False, True])
def test_a_regrid_of_an_unchanged_community_changes_nothing(irregular):
    # (Not every community: on 300 buildings, seeds 3, 4, 6, 7 and 12 of 1–12 move 1–4% of households,
    # runs of buildings above the range, before `best_partition` as after it.)
    community = lattice_community(300, seed=2, irregular=irregular)
    before = plan_community(community, CFG, code="440308001001")
    after = regrid(community, before.household_codes(), CFG, code="440308001001")
    assert stability(before, after) == (1.0, 1.0)
    q = measure(after, community.boundary, CFG)
    assert q.gap_area_m2 < 1.0 and q.overlap_area_m2 < 1.0 and q.multipart_polygons == 0


def test_regrid_partition_works_on_the_graph_and_leaves_the_cells_alone():
    from gridgov.gridding.algorithm.model import BuildingIn
    from gridgov.gridding.algorithm.regrid import regrid_inputs, regrid_partition

    community = lattice_community(300, seed=9)
    before = plan_community(community, CFG, code="440308001001")
    minx, miny, maxx, maxy = community.boundary.bounds
    community.buildings.append(BuildingIn.simple("new", (minx + maxx) / 2 + 5, (miny + maxy) / 2, 9))
    r = regrid_inputs(community, before.household_codes(), CFG)
    cells = list(r.p.cells)
    plan = regrid_partition(r, CFG)
    assert all(a is b for a, b in zip(r.p.cells, cells, strict=True)) and len(r.p.cells) == len(cells)
    seen = {(it.building, h) for it in plan.items for h in range(it.first, it.first + it.count)}
    assert seen == {(b.id, h) for b in community.buildings for h in range(len(b.weights))}
    assert len(plan.area_of) == len(plan.items) and max(plan.grid_of_area) + 1 == plan.n_grids


def test_a_facing_cut_turns_only_to_keep_the_areas_more_compact():
    from gridgov.gridding.algorithm.donate import _facing, _hull_pp

    cell = shapely.box(0, 0, 10, 10)
    # The light run's area is a tall strip east of the cell: cut straight toward it, its piece is a
    # tall strip too, and the two make a thin area.
    strip = shapely.box(10, -25, 13, 35)
    straight = _facing(cell, [3.0, 7.0], [(11.5, 5.0), (5.0, 5.0)])
    turned = _facing(cell, [3.0, 7.0], [(11.5, 5.0), (5.0, 5.0)], [strip, None])
    for pieces in (straight, turned):
        assert (
            abs(sum(p.area for p in pieces) - 100) < 0.01 and abs(pieces[0].area - 30) < 0.1
        )  # (1 cm snapping)
        assert pieces[0].distance(strip) < 0.05  # the piece still reaches its area
    before = min(_hull_pp(strip, straight[0]), _hull_pp(None, straight[1]))
    after = min(_hull_pp(strip, turned[0]), _hull_pp(None, turned[1]))
    assert after >= before + 0.05  # (0.22 straight, 0.33 turned)
    # Where the straight cut is compact enough, nothing turns.
    square = shapely.box(10, 0, 20, 10)
    kept = _facing(cell, [3.0, 7.0], [(11.5, 5.0), (5.0, 5.0)], [square, None])
    assert all(p.symmetric_difference(q).area < 0.01 for p, q in zip(kept, straight, strict=True))


def _star(weights: list[float]) -> tuple[list[Item], list[set[int]]]:
    """Building 0 in the middle, linked to every other; the others not linked to each other."""
    items = [Item(f"b{i}", 0, 0, int(w), w, float(i), 0.0) for i, w in enumerate(weights)]
    adj = [set(range(1, len(weights)))] + [{0} for _ in weights[1:]]
    return items, adj


def test_split_floor_counts_a_building_no_whole_neighbour_can_complete():
    # 12 households between buildings of 10 and 9: any pair is above 20 and each alone below 15, so some
    # building of the three must be cut (all three are stranded, but their witnesses overlap: one cut).
    items, adj = _star([12.0, 10.0, 9.0])
    assert split_floor(items, adj, 15, 20) == 1
    # A neighbour of 6 completes it (18): nothing has to be cut.
    items, adj = _star([12.0, 6.0])
    assert split_floor(items, adj, 15, 20) == 0
    # Two such stars apart (linked through a building of 16, alone in range): a cut each.
    items, adj = _star([12.0, 10.0, 9.0])
    more, links = _star([11.0, 10.0, 9.0, 16.0])
    items += [Item(f"c{i}", 0, 0, it.count, it.weight, it.x, 5.0) for i, it in enumerate(more)]
    adj += [{j + 3 for j in s} for s in links]
    adj[2].add(6)
    adj[6].add(2)
    assert split_floor(items, adj, 15, 20) == 2
    # Next to a building above the range (cut anyway, its runs can make the area up): only that one.
    big = [Item("big", 1, 0, 5, 5.0, 3.0, 0.0), Item("big", 2, 5, 20, 20.0, 3.0, 0.0)]
    items, adj = _star([12.0, 10.0, 9.0])
    items += big
    for i in range(3):
        adj[i] |= {3, 4}
    adj += [{0, 1, 2, 4}, {0, 1, 2, 3}]
    assert split_floor(items, adj, 15, 20) == 1


def test_split_floor_is_below_what_a_plan_cuts():
    for seed in (1, 2, 3):
        c = lattice_community(150, seed=seed)
        p = prepare(c, CFG)
        floor = split_floor(p.items, p.adj, CFG.area_min, CFG.area_max)
        plan = plan_community(c, CFG, build_polygons=False)
        assert floor > sum(b.weight > CFG.area_max for b in c.buildings)  # stranded buildings exist here
        assert floor <= len({it.building for it in plan.items if it.part > 0})


def test_best_partition_keeps_the_walk_with_the_fewest_buildings_cut():
    c = lattice_community(400, seed=5)

    def small_cuts(plan) -> int:
        return _small_cuts(plan.items, CFG.area_max)

    each = []
    for orient in range(ORIENTATIONS):
        p = prepare(c, CFG)
        each.append(small_cuts(partition(p.items, p.adj, p.blocks, CFG, centres=p.centres,
                                         household_weights=p.household_weights, orient=orient)))  # fmt: skip
    assert len(set(each)) > 1  # the walks do lead to different plans
    p = prepare(c, CFG)
    best, orient = best_partition(p, CFG)
    assert small_cuts(best) == min(each) and each[orient] == min(each) and each.index(min(each)) == orient
    assert best.items is p.items  # grown in place, as `partition` grows it
    assert best.problems == []
    p2 = prepare(c, CFG)
    again, _ = best_partition(p2, CFG)
    assert again.area_of == best.area_of and again.items == best.items  # deterministic


def test_a_regrid_from_the_stored_cells_with_no_change_is_the_plan_in_force():
    import dataclasses

    from gridgov.gridding.algorithm.model import BuildingIn, CommunityIn
    from gridgov.gridding.algorithm.stored import changed_buildings, stored_from_plan, unchanged

    community = lattice_community(300, seed=3, irregular=True)
    before = plan_community(community, CFG, code="440308001001")
    stored = stored_from_plan(before)
    previous = before.household_codes()
    assert unchanged(community, previous, stored)
    after = regrid(community, previous, CFG, code="440308001001", check_codes=True, stored=stored)
    assert after.household_codes() == previous
    assert [it.key for it in after.items] == [it.key for it in before.items]
    assert all(a is b for a, b in zip(after.item_cells, before.item_cells, strict=True))
    by_code = dict(zip(before.area_codes, before.area_polygons, strict=True))
    assert all(p is by_code[c] for c, p in zip(after.area_codes, after.area_polygons, strict=True))
    assert after.links == before.links and after.problems == before.problems
    # A building added, one with a household gone, one whose households changed order: those change.
    b0, b1 = community.buildings[0], community.buildings[1]
    b1_ids = tuple(str(h) for h in range(len(b1.weights)))
    community.buildings[0] = BuildingIn(b0.id, b0.x, b0.y, b0.weights[:-1])
    community.buildings[1] = BuildingIn(b1.id, b1.x, b1.y, b1.weights, household_ids=b1_ids[::-1])
    community.buildings.append(BuildingIn.simple("new", b0.x + 3, b0.y, 4))
    if len(b1.weights) > 1:
        assert changed_buildings(community, stored) == {b0.id, b1.id, "new"}
    assert not unchanged(community, previous, stored)
    # The codes in force differ from the stored plan's (a household moved by hand since): not as it is.
    community.buildings[:] = [b0, b1, *community.buildings[2:-1]]
    moved = dict(previous)
    key = next(iter(moved))
    moved[key] = ("440308001001999", moved[key][1])
    assert not changed_buildings(community, stored) and not unchanged(community, moved, stored)
    assert unchanged(community, previous, stored)
    # A building moved 40 m (off its cell): that building changed.
    b2 = community.buildings[2]
    community.buildings[2] = dataclasses.replace(b2, x=b2.x + 40)
    assert changed_buildings(community, stored) == {b2.id}
    community.buildings[2] = b2
    # The outline moved by 20 cm on one side: the stored cells no longer tile it.
    _, miny, maxx, maxy = community.boundary.bounds
    shifted = CommunityIn(
        community.boundary.union(shapely.box(maxx - 1, miny, maxx + 0.2, maxy)), community.buildings
    )
    assert not unchanged(shifted, previous, stored)
    # A plan kept before the cells' links were: linked from the outlines.
    unlinked = dataclasses.replace(
        stored, cells=[dataclasses.replace(c, neighbours=None) for c in stored.cells]
    )
    plan = regrid(community, previous, CFG, code="440308001001", stored=unlinked)
    assert plan.household_codes() == previous and len(plan.links) == len(plan.items)
    assert all(k in plan.links[j] for k, nbs in enumerate(plan.links) for j in nbs)
