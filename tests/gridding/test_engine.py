"""The pure gridding engine on canned and generated communities (no database)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from gridgov.gridding.algorithm import (
    BuildingIn,
    CommunityIn,
    Config,
    GriddingInputError,
    plan_community,
)
from gridgov.gridding.algorithm.hilbert import hilbert_index
from gridgov.gridding.algorithm.quality import measure
from gridgov.gridding.algorithm.splitting import feasible_total, nearest_feasible, split_buildings
from gridgov.gridding.algorithm.synthetic import lattice_community

CFG = Config()


def every_household_once(plan, community) -> None:
    seen = plan.household_area()
    expected = {(b.id, b.hid(h)) for b in community.buildings for h in range(len(b.weights))}
    assert set(seen) == expected


def assert_tiles(q, community) -> None:
    """The stated tolerance: gaps and overlaps each at most 1 m² per km² of the community."""
    km2 = community.boundary.area / 1e6
    assert q.gap_area_m2 <= 1.0 * km2, (q.gap_area_m2, km2)
    assert q.overlap_area_m2 <= 1.0 * km2, (q.overlap_area_m2, km2)


def tiled_plan(n: int, seed: int, irregular: bool):
    """`lattice_community(n, seed, irregular)` planned, measured, and checked to tile within tolerance."""
    community = lattice_community(n, seed=seed, irregular=irregular)
    plan = plan_community(community, CFG)
    q = measure(plan, community.boundary, CFG)
    assert_tiles(q, community)
    return plan, q


def test_feasible_totals_match_the_arithmetic():
    infeasible = [t for t in range(1, 50) if not feasible_total(t, 15, 20)]
    assert infeasible == [*range(1, 15), *range(21, 30), *range(41, 45)]
    assert nearest_feasible(25, 15, 20) == (20, 30)


def test_big_buildings_are_cut_by_unit_floor_into_small_runs():
    items, _ = split_buildings([BuildingIn.simple("a", 0, 0, 27), BuildingIn.simple("b", 5, 5, 12)], CFG)
    a = [i for i in items if i.building == "a"]
    assert sum(i.count for i in a) == 27 and all(i.count <= 5 for i in a)
    assert [i.first for i in a] == sorted(i.first for i in a)
    assert next(i for i in items if i.building == "b").part == 0


def test_hilbert_order_visits_a_lattice_cell_by_cell():
    import numpy as np

    x, y = np.meshgrid(np.arange(16.0), np.arange(16.0))
    d = hilbert_index(x.ravel(), y.ravel(), order=4)
    o = np.argsort(d)
    steps = np.abs(np.diff(x.ravel()[o])) + np.abs(np.diff(y.ravel()[o]))
    assert steps.max() == 1


@pytest.mark.parametrize("irregular", [False, True])
def test_lattice_community_is_tiled_in_range_and_contiguous(irregular):
    community = lattice_community(300, seed=5, irregular=irregular)
    plan = plan_community(community, CFG, code="440308001001")
    q = measure(plan, community.boundary, CFG)
    every_household_once(plan, community)
    assert_tiles(q, community)
    assert q.areas_in_range >= 0.98
    assert q.grids_in_range == 1.0
    assert q.areas_contiguous >= 0.98
    assert len(set(plan.area_codes)) == plan.n_areas
    assert all(c.startswith("440308001001") and len(c) == 17 for c in plan.area_codes)
    assert all(a[:15] == plan.grid_codes[g] for a, g in zip(plan.area_codes, plan.grid_of_area, strict=True))


def test_codes_read_west_to_east_then_north_to_south():
    community = lattice_community(600, seed=2)
    plan = plan_community(community, CFG, code="440308001001")
    first, last = plan.grid_polygons[0].centroid, plan.grid_polygons[-1].centroid
    assert first.y > last.y  # first row is the northernmost


def test_infeasible_community_is_reported_with_an_alternative():
    box = shapely.box(0, 0, 100, 100)
    community = CommunityIn(box, [BuildingIn.simple("a", 20, 20, 12), BuildingIn.simple("b", 70, 70, 13)])
    plan = plan_community(community, CFG)
    kinds = [p.kind for p in plan.problems]
    assert "infeasible_community" in kinds
    problem = next(p for p in plan.problems if p.kind == "infeasible_community")
    assert "25" in problem.message and "20 and 30" in problem.alternative


def test_barrier_blocks_with_infeasible_totals_are_reported():
    box = shapely.box(0, 0, 200, 100)
    road = LineString([(100, -10), (100, 110)])
    west = [BuildingIn.simple(f"w{i}", 10 + 20 * i, 50, 5) for i in range(5)]  # 25 households
    east = [BuildingIn.simple(f"e{i}", 110 + 20 * i, 50, 7) for i in range(5)]  # 35 households
    plan = plan_community(CommunityIn(box, west + east, [road]), CFG)
    blocks = [p for p in plan.problems if p.kind == "infeasible_block"]
    assert len(blocks) == 1 and "25" in blocks[0].message


def test_barrier_is_respected_when_numbers_allow():
    box = shapely.box(0, 0, 200, 100)
    road = LineString([(100, -10), (100, 110)])
    west = [BuildingIn.simple(f"w{i}", 15 + 17 * i, 30 + 40 * (i % 2), 6) for i in range(5)]  # 30
    east = [BuildingIn.simple(f"e{i}", 115 + 17 * i, 30 + 40 * (i % 2), 6) for i in range(5)]  # 30
    plan = plan_community(CommunityIn(box, west + east, [road]), CFG)
    for area in range(plan.n_areas):
        sides = {it.building[0] for it, a in zip(plan.items, plan.area_of, strict=True) if a == area}
        assert len(sides) == 1


@pytest.mark.parametrize(
    ("community", "message"),
    [
        (CommunityIn(shapely.Polygon(), [BuildingIn.simple("a", 0, 0, 20)]), "boundary is empty"),
        (CommunityIn(shapely.box(0, 0, 10, 10), []), "no households"),
        (
            CommunityIn(
                shapely.box(0, 0, 10, 10), [BuildingIn.simple("a", 1, 1, 9), BuildingIn.simple("a", 2, 2, 9)]
            ),
            "duplicate building ids: a",
        ),
        (
            CommunityIn(shapely.box(0, 0, 10, 10), [BuildingIn.simple("far", 50, 50, 18)]),
            "outside the community",
        ),
        (
            CommunityIn(
                shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10)]), [BuildingIn.simple("a", 5, 1, 18)]
            ),
            "invalid",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason(community, message):
    with pytest.raises(GriddingInputError) as exc:
        plan_community(community, CFG)
    assert message in str(exc.value)


# Examples drawn the same way every run (`derandomize`), so that a run fails by the change it tests, not by
# the draw. Cases found with many more examples (tiling within 1 m²/km²) are kept as explicit tests
# (`test_a_sharp_tip_…`, `test_a_vertex_left_off_the_grid_…`, `test_a_gap_closed_…`, `test_a_vertex_in_…`).
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=12, max_value=80),
    seed=st.integers(min_value=0, max_value=10_000),
    irregular=st.booleans(),
)
def test_properties_hold_on_random_communities(n, seed, irregular):
    community = lattice_community(n, seed=seed, irregular=irregular)
    plan = plan_community(community, CFG)
    every_household_once(plan, community)
    q = measure(plan, community.boundary, CFG)
    assert_tiles(q, community)
    # Everything out of range is reported, never silently accepted.
    out = sum(not CFG.area_min <= w <= CFG.area_max for w in plan.area_weights())
    reported = sum(p.kind == "out_of_range" and p.where[0] in plan.area_codes for p in plan.problems)
    assert out == reported


@pytest.mark.parametrize("irregular", [False, True])
def test_cut_buildings_leave_no_slivers_in_a_small_community(irregular):
    # 0.077 km²: the pieces of cut buildings once overlapped their neighbours by 1.13 m² (15 m²/km²),
    # slivers along edges that a cut's snapping bent and the cell across kept straight.
    plan, q = tiled_plan(37, 592, irregular)
    assert q.multipart_polygons == 0 and q.areas_contiguous == 1.0
    cells = plan.item_cells
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="overlaps")
    worst = max(
        (cells[a].intersection(cells[b]).area for a, b in zip(left, right, strict=True) if a < b),
        default=0.0,
    )
    assert worst < 0.01


@pytest.mark.parametrize(("n", "seed", "irregular"), [(52, 2615, False), (52, 2615, True), (12, 6044, False)])
def test_a_sharp_tip_of_a_cut_piece_is_not_snapped_off_when_sealed(n, seed, irregular):
    # Found by the property test: two pieces of a cut building overlapped 0.04 m² at a sharp tip (21°);
    # the seal took the sliver from the piece with the tip, whose snapped outline lost its last 3 cm
    # along a 21 m edge: a gap of 0.38 m² and, sealed again, an overlap of 0.19 m² (1 m²/km² is 0.10 m²
    # here), the area in two pieces. The piece across gives the sliver up instead. (12, 6044): a gap
    # of 0.03 m² that the holes around fill is let open (else an unsnapped cut overlaps 0.03 m²).
    _plan, q = tiled_plan(n, seed, irregular)
    assert q.multipart_polygons == 0 and q.areas_contiguous == 1.0


def test_a_speck_beyond_a_crossing_does_not_keep_a_sliver_overlap_when_sealed():
    # Found by the property test (1,600 examples): three cells meet where two roundings of one crossing
    # lie 1 cm apart; giving the 0.07 m² overlap up (1 m²/km² is 0.044 m² here) left the loser a speck
    # of 0.00003 m² beyond the crossing, a second part, so neither cell gave it up. The speck is dropped.
    _plan, q = tiled_plan(22, 1227, False)
    assert q.overlap_area_m2 < 0.001


@pytest.mark.parametrize(("n", "seed"), [(46, 5830), (13, 8575)])
def test_a_vertex_left_off_the_grid_by_the_seal_opens_no_sliver_when_snapped(n, seed):
    # Found by the property test (1,500 examples): where neither cell can give an overlap up snapped,
    # one gives it up unsnapped and keeps a vertex off the 1 cm grid where the edges cross; a later
    # snapping (the areas' dissolve, or the seal's faces of lone edges) moved it up to 7 mm off the edge
    # across: a sliver along a 20 m edge, 0.097 m² of gap and 0.047 m² of overlap in 0.089 km² (46, 5830),
    # 0.095 m² of overlap in 0.028 km² (13, 8575). The cells around such a vertex are now tiled again from
    # their outlines noded on the grid (`tessellate._retile_off_grid`): every vertex on the grid.
    plan, q = tiled_plan(n, seed, False)
    assert q.multipart_polygons == 0
    xy = shapely.get_coordinates(plan.item_cells)
    assert abs(xy / 0.01 - (xy / 0.01).round()).max() < 1e-6
    cells = plan.item_cells
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="overlaps")
    assert all(cells[a].intersection(cells[b]).area < 1e-6 for a, b in zip(left, right, strict=True))


@pytest.mark.parametrize(("n", "seed"), [(16, 2593), (31, 7091)])
def test_a_gap_closed_by_the_seal_is_on_the_grid_as_geos_rounds_it(n, seed):
    # Found by the property test (8,000 examples): the seal's faces of lone edges were drawn at grid
    # units × 0.01, an ulp off GEOS's own rounding (units ÷ 100) for one point in seven; united with a
    # cell on the grid, GEOS found a crossing of two edges from one point halfway along them and bent the
    # cell's 48 m edge 5 mm: 0.117 m² of overlap in 0.029 km² (16, 2593), 0.109 m² in 0.061 km² (31, 7091).
    _plan, q = tiled_plan(n, seed, False)
    assert q.overlap_area_m2 < 0.001


def test_a_vertex_in_the_pixel_of_an_edge_across_is_sealed_into_it():
    # Found by the property test (4,000 examples, hypothesis): three cells tiled exactly, but a vertex of
    # one lay 4 mm from the edge two others share, which does not hold it; the dissolve of the vertex's
    # area bent that edge through it (snap rounding), the area across kept it straight: 0.060 m² of
    # overlap in 0.049 km². Such cells are tiled again from their outlines noded on the grid together.
    _plan, q = tiled_plan(27, 1116, True)
    assert q.overlap_area_m2 < 0.001


def test_regrid_after_one_new_building_keeps_almost_everyone():
    from gridgov.gridding.algorithm.quality import stability
    from gridgov.gridding.algorithm.regrid import regrid

    community = lattice_community(400, seed=11)
    before = plan_community(community, CFG, code="440308001001")
    minx, miny, maxx, maxy = community.boundary.bounds
    community.buildings.append(BuildingIn.simple("new", (minx + maxx) / 2 + 7, (miny + maxy) / 2 + 3, 12))
    after = regrid(community, before.household_codes(), CFG, code="440308001001")
    every_household_once(after, community)
    kept_area, kept_grid = stability(before, after)
    assert kept_area >= 0.95 and kept_grid >= 0.95
    # Codes that survived still name the same households; new codes do not collide with old ones.
    assert len(set(after.area_codes)) == after.n_areas
    assert all(
        c[:15] == after.grid_codes[g] for c, g in zip(after.area_codes, after.grid_of_area, strict=True)
    )
    new_area = after.area_codes[after.household_area()[("new", "0")]]
    assert new_area.startswith("440308001001")


def _turned(n: int, seed: int, degrees: float) -> CommunityIn:
    """`lattice_community` turned about its centre: the corners of its boundary leave the 1 cm grid."""
    import shapely.affinity

    c = lattice_community(n, seed=seed)
    o = c.boundary.centroid
    pts = [shapely.affinity.rotate(shapely.Point(b.x, b.y), degrees, origin=o) for b in c.buildings]
    buildings = [replace(b, x=p.x, y=p.y) for b, p in zip(c.buildings, pts, strict=True)]
    return CommunityIn(shapely.affinity.rotate(c.boundary, degrees, origin=o), buildings)


def test_a_regrid_tiles_a_community_whose_boundary_corners_are_off_the_snapping_grid():
    # The demo's communities (2–5 km², a few corners each) read 2.9–6.7 m² of gaps after a re-grid (and as
    # much fresh): each cell's corner on a 1.5 km edge is snapped on its own, up to 7 mm off the straight
    # edge between the boundary's corners snapped alone, against which gaps were measured. Here that read
    # 1.99 m² (5.6 m²/km²) with no gap at all; the boundary is now snapped with the cells' corners on it.
    from gridgov.gridding.algorithm.regrid import regrid

    community = _turned(200, 5, 31.0)
    before = plan_community(community, CFG, code="440308001001")
    mid = community.boundary.centroid
    community.buildings.append(BuildingIn.simple("new", mid.x + 7, mid.y + 3, 12))
    after = regrid(community, before.household_codes(), CFG, code="440308001001")
    every_household_once(after, community)
    q = measure(after, community.boundary, CFG)
    assert_tiles(q, community)
    assert q.gap_area_m2 < 0.01
    # A real gap is still seen: an area along the boundary shrunk by 5 cm.
    edge = community.boundary.boundary.buffer(0.01)
    a = max(range(after.n_areas), key=lambda k: after.area_polygons[k].intersection(edge).length)
    shrunk = after.area_polygons[a].buffer(-0.05, join_style="mitre")
    lost = after.area_polygons[a].area - shrunk.area
    after.area_polygons[a] = shrunk
    assert measure(after, community.boundary, CFG).gap_area_m2 == pytest.approx(lost, rel=0.01)


def test_slicing_a_cell_whose_cut_leaves_a_line_does_not_crash():
    from gridgov.gridding.algorithm.tessellate import slice_cell

    cell = shapely.from_wkt(
        "POLYGON ((1865.33 304.92, 1906.09 292.74, 1904.14 264.31, 1869.39 263.13, 1867.38 265.22, "
        "1865.33 304.92))"
    )
    pieces = slice_cell(cell, [5.0] * 5)
    assert len(pieces) == 5
    assert abs(sum(p.area for p in pieces) - cell.area) < 0.5
    assert all(p.geom_type == "Polygon" for p in pieces)


def _single_households(n: int) -> CommunityIn:
    side = int(n**0.5) + 1
    return CommunityIn(
        shapely.box(0, 0, side * 10, side * 10),
        [BuildingIn.simple(f"b{i}", (i % side) * 10 + 5, (i // side) * 10 + 5, 1) for i in range(n)],
    )


def test_more_grids_or_areas_than_codes_allow_are_refused():
    from gridgov.gridding.algorithm import CodeSpaceError
    from gridgov.gridding.algorithm.regrid import regrid

    one_each = Config(area_min=1, area_max=1, grid_min=1, grid_max=1)
    thousand = _single_households(1000)
    with pytest.raises(CodeSpaceError) as exc:
        plan_community(thousand, one_each, code="440308001001", check_codes=True)
    assert (exc.value.grids, exc.value.areas) == (1000, 1) and "440308001001" in str(exc.value)
    # Unchecked (a benchmark's synthetic city), the plan is made and numbered on.
    assert plan_community(thousand, one_each, code="C", build_polygons=False).grid_codes[-1] == "C1000"
    community = _single_households(120)
    wide = Config(area_min=1, area_max=1, grid_min=100, grid_max=200)
    with pytest.raises(CodeSpaceError) as exc:
        plan_community(community, wide, code="440308001001", check_codes=True)
    assert (exc.value.grids, exc.value.areas) == (1, 120)
    # A re-grid that would put them in one grid too (the grids in force held 40–60 households).
    before = plan_community(community, replace(wide, grid_min=40, grid_max=60), code="440308001001")
    with pytest.raises(CodeSpaceError):
        regrid(community, before.household_codes(), wide, code="440308001001", check_codes=True)
    # 99 areas in a grid: still numbered.
    plan = plan_community(_single_households(99), wide, code="440308001001", check_codes=True)
    assert plan.area_codes[-1].endswith("00199")
