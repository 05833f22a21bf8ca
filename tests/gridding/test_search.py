"""The exact re-cut, its shortcut and the Hilbert table against plain brute force (no database)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gridgov.gridding.algorithm.grow import exact_recut, stranded
from gridgov.gridding.algorithm.hilbert import hilbert_index
from gridgov.gridding.algorithm.repair import components, connected

LO, HI = 15.0, 20.0


def partitions(items: list[int]):
    """Every set partition of `items`."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for p in partitions(rest):
        for k in range(len(p)):
            yield [*p[:k], [first, *p[k]], *p[k + 1 :]]
        yield [[first], *p]


def spread(group: list[int], xs: list[float], ys: list[float]) -> float:
    cx, cy = sum(xs[m] for m in group) / len(group), sum(ys[m] for m in group) / len(group)
    return sum((xs[m] - cx) ** 2 + (ys[m] - cy) ** 2 for m in group)


def valid(group: list[int], weights: list[float], adj: list[set[int]]) -> bool:
    return LO <= sum(weights[m] for m in group) <= HI and len(components(group, adj)) == 1


@st.composite
def graphs(draw, max_size: int = 8):
    """A small neighbour graph (symmetric), household weights and distinct positions."""
    m = draw(st.integers(min_value=1, max_value=max_size))
    weights = [float(w) for w in draw(st.lists(st.integers(1, 20), min_size=m, max_size=m))]
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    edges = draw(st.lists(st.sampled_from(pairs), max_size=3 * m, unique=True)) if pairs else []
    adj: list[set[int]] = [set() for _ in range(m)]
    for i, j in edges:
        adj[i].add(j)
        adj[j].add(i)
    xs = [float(i * 10 + draw(st.integers(0, 5))) for i in range(m)]
    ys = [float(draw(st.integers(0, 30))) for _ in range(m)]
    return weights, adj, xs, ys


@settings(max_examples=500, deadline=None)
@given(graphs())
def test_exact_recut_finds_the_most_compact_cut_exactly_when_one_exists(graph):
    weights, adj, xs, ys = graph
    members = list(range(len(weights)))
    cuts = [p for p in partitions(members) if all(valid(g, weights, adj) for g in p)]
    got = exact_recut(members, weights, adj, LO, HI, xs, ys)
    assert (got is None) == (not cuts)
    if got is not None:
        assert sorted(m for g in got for m in g) == members
        assert all(valid(g, weights, adj) for g in got)
        best = min(sum(spread(g, xs, ys) for g in p) for p in cuts)
        assert abs(sum(spread(g, xs, ys) for g in got) - best) <= 1e-6 * max(1.0, best)


@settings(max_examples=300, deadline=None)
@given(graphs(), st.data())
def test_a_stranded_member_means_no_cut_exists(graph, data):
    weights, adj, _, _ = graph
    members = data.draw(st.permutations(range(len(weights))))
    if stranded(members, frozenset(members), weights, adj, LO - 1e-9, HI + 1e-9, {}):
        assert not any(all(valid(g, weights, adj) for g in p) for p in partitions(list(members)))


def test_a_light_building_between_heavy_ones_is_stranded():
    # 9 households next to buildings of 12 and 14: either pair exceeds 20, alone it is short of 15.
    weights, adj = [12.0, 9.0, 14.0], [{1}, {0, 2}, {1}]
    assert stranded([0, 1, 2], frozenset({0, 1, 2}), weights, adj, LO - 1e-9, HI + 1e-9, {})
    # 6 + 9 and 11 + 9 fit: nobody is stranded.
    assert not stranded([0, 1, 2], frozenset({0, 1, 2}), [6.0, 9.0, 11.0], adj, LO - 1e-9, HI + 1e-9, {})
    assert exact_recut([0, 1, 2], weights, adj, LO, HI, [0.0, 1.0, 2.0], [0.0] * 3) is None


@settings(max_examples=100, deadline=None)
@given(graphs(max_size=10), st.data())
def test_connected_agrees_with_components(graph, data):
    _, adj, _, _ = graph
    members = data.draw(st.lists(st.integers(0, len(adj) - 1), unique=True))
    assert connected(members, adj) == (len(components(members, adj)) <= 1)


def classic_hilbert(x: int, y: int, order: int) -> int:
    """The textbook walk, one point at a time (rotating the coordinates level by level)."""
    n, d, s = 1 << order, 0, 1 << (order - 1)
    while s > 0:
        rx, ry = int(x & s > 0), int(y & s > 0)
        d += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            if rx == 1:
                x, y = n - 1 - x, n - 1 - y
            x, y = y, x
        s >>= 1
    return d


def test_hilbert_table_walks_the_curve_like_the_textbook_at_every_order():
    for order in range(1, 7):
        side = np.arange(1 << order, dtype=float)
        x, y = (a.ravel() for a in np.meshgrid(side, side))
        # (the same integer cells hilbert_index puts the points in: bbox scaled to 0 … 2**order - 1)
        n, span = 1 << order, float(np.ptp(x))
        xi, yi = ((v / span * (n - 1)).astype(np.int64) for v in (x, y))
        expected = [classic_hilbert(int(a), int(b), order) for a, b in zip(xi, yi, strict=True)]
        assert hilbert_index(x, y, order=order).tolist() == expected
