"""Cells and their neighbour links: the shared-border bound that spares the overlays, the cut memos."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gridgov.gridding.algorithm import Config, tessellate
from gridgov.gridding.algorithm.donate import slice_toward
from gridgov.gridding.algorithm.engine import prepare
from gridgov.gridding.algorithm.synthetic import lattice_community
from gridgov.gridding.algorithm.tessellate import (
    GRID,
    _exact_shared,
    _shared_lower,
    adjacency,
    relink,
    slice_cell,
)

CFG = Config()


def overlay_shared(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """The reference: the snapped overlay of the two outlines (`shared_border`)."""
    return float(shapely.intersection(a.boundary, b.boundary, grid_size=GRID).length)


@pytest.fixture(scope="module")
def cut_cells() -> tuple[list, list[int]]:
    """Cells of a lattice community with every third building cut (across its axis, or toward a point
    off its side, as the facing cut does): pieces with snapped vertices on their neighbours' edges."""
    p = prepare(lattice_community(300, seed=2), CFG)
    cells = list(p.cells)
    changed: list[int] = []
    rng = np.random.default_rng(5)
    for i in range(0, len(cells), 3):
        cell = cells[i]
        if i % 2:
            pieces = slice_cell(cell, [float(w) for w in rng.integers(1, 9, 3)], float(rng.uniform(0, 180)))
        else:
            c = cell.centroid
            pieces = list(slice_toward(cell, (c.x + rng.normal() * 50, c.y + rng.normal() * 50), 0.3))
        cells[i] = pieces[0]
        for extra in pieces[1:]:
            cells.append(extra)
            changed.append(len(cells) - 1)
        changed.append(i)
    return cells, changed


def touching_pairs(cells: list) -> tuple[np.ndarray, np.ndarray]:
    left, right = shapely.STRtree(cells).query(cells, predicate="intersects")
    keep = left < right
    return left[keep], right[keep]


def test_the_shared_border_bound_never_exceeds_the_overlay_and_settles_cut_pieces(cut_cells) -> None:
    cells, _changed = cut_cells
    left, right = touching_pairs(cells)
    a, b = [cells[i] for i in left], [cells[j] for j in right]
    low = _shared_lower(a, b)
    ref = np.array([overlay_shared(x, y) for x, y in zip(a, b, strict=True)])
    assert np.all(low <= ref + 1e-9)
    # It settles nearly every pair that shares a border, the pieces' T-junctions included, which the
    # exact edges alone do not.
    linked = ref >= CFG.min_shared_border
    settled = low >= CFG.min_shared_border + 1e-9
    exact = np.array(_exact_shared(cells, list(zip(left.tolist(), right.tolist(), strict=True))))
    assert settled[linked].mean() > 0.95
    assert (exact[linked] >= CFG.min_shared_border).mean() < 0.9
    assert np.all(np.isclose(low[settled], ref[settled], atol=1e-9))


def test_outlines_crossing_in_a_sliver_are_not_taken_for_a_long_shared_border() -> None:
    # Two cuts rounding one crossing 1 cm apart: the outlines run side by side over 11.5 m and cross;
    # snap rounding bends them through different pixels, so the overlay shares 1 cm only.
    a = shapely.from_wkt("POLYGON ((7333.89 8.8, 7331.98 20.18, 7377.82 13.72, 7376.29 2.83, 7333.89 8.8))")
    b = shapely.from_wkt(
        "POLYGON ((7290.26 12.74, 7306.71 22.47, 7331.44 23.43, 7340.7 -31.8, 7293.12 -31.8, 7290.26 12.74))"
    )
    ref = overlay_shared(a, b)
    assert ref < 0.02
    assert _shared_lower([a], [b])[0] <= ref + 1e-9


def test_relink_links_the_cells_the_overlay_links(cut_cells) -> None:
    cells, changed = cut_cells
    adj: list[set[int]] = [set() for _ in cells]
    relink(cells, adj, list(range(len(cells))), CFG.min_shared_border)
    left, right = touching_pairs(cells)
    want: list[set[int]] = [set() for _ in cells]
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if overlay_shared(cells[i], cells[j]) >= CFG.min_shared_border:
            want[i].add(j)
            want[j].add(i)
    assert adj == want
    assert any(want[i] for i in changed)


def test_adjacency_links_the_cells_the_overlay_links(cut_cells) -> None:
    cells, _changed = cut_cells
    left, right = touching_pairs(cells)
    want: list[set[int]] = [set() for _ in cells]
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if overlay_shared(cells[i], cells[j]) >= CFG.min_shared_border:
            want[i].add(j)
            want[j].add(i)
    assert adjacency(cells, CFG.min_shared_border) == want


def test_a_remembered_cut_is_the_same_cut_and_a_fresh_list() -> None:
    cell = shapely.Polygon([(0, 0), (40, 3), (37, 21), (2, 18)])
    first = slice_cell(cell, [3.0, 5.0, 2.0], 12.5)
    first[0] = shapely.Polygon()  # the caller's list is its own
    again = slice_cell(cell, [3.0, 5.0, 2.0], 12.5)
    assert not again[0].is_empty
    assert [g.wkb for g in again[1:]] == [g.wkb for g in first[1:]]
    assert sum(g.area for g in again) == pytest.approx(cell.area, abs=0.01)
    assert slice_cell(cell, [5.0, 5.0], 12.5)[0].area == pytest.approx(cell.area / 2, abs=0.5)


def test_a_new_plan_starts_with_no_cut_remembered() -> None:
    cell = shapely.Polygon([(0, 0), (40, 3), (37, 21), (2, 18)])
    slice_cell(cell, [1.0, 2.0], 30.0)
    assert tessellate._SLICES
    prepare(lattice_community(30, seed=4), CFG)
    assert not any((cell.wkb, (1.0, 2.0), 30.0) in memo for memo in tessellate.CUT_MEMOS)
    assert len(tessellate.CUT_MEMOS) >= 2  # slice_cell's and the facing cut's
