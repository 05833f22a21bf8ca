"""The compiled partition kernels against their Python reference (no database): same groups, same plans."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

from gridgov.gridding.algorithm import compiled, engine
from gridgov.gridding.algorithm.chains import fill_by_chains
from gridgov.gridding.algorithm.donate import donate
from gridgov.gridding.algorithm.grow import exact_recut, grow, mend
from gridgov.gridding.algorithm.model import Config, Item
from gridgov.gridding.algorithm.repair import repair
from gridgov.gridding.algorithm.synthetic import lattice_community

LO, HI = 15.0, 20.0


@st.composite
def plane_graphs(draw, max_size: int = 40):
    """A neighbour graph of points on a jittered lattice (links to lattice neighbours, some dropped, a
    few long ones; symmetric), household weights of 1–20 and distinct positions."""
    m = draw(st.integers(min_value=1, max_value=max_size))
    side = max(1, int(m**0.5))
    weights = [float(w) for w in draw(st.lists(st.integers(1, 20), min_size=m, max_size=m))]
    xs = [float(i % side) * 10 + draw(st.integers(0, 4)) * 0.37 + i * 1e-3 for i in range(m)]
    ys = [float(i // side) * 10 + draw(st.integers(0, 4)) * 0.29 for i in range(m)]
    adj: list[set[int]] = [set() for _ in range(m)]
    for i in range(m):
        for j in (i + 1, i + side):
            if j < m and (j != i + 1 or (i + 1) % side) and draw(st.integers(0, 5)):
                adj[i].add(j)
                adj[j].add(i)
    for i, j in draw(st.lists(st.tuples(st.integers(0, m - 1), st.integers(0, m - 1)), max_size=3)):
        if i != j:
            adj[i].add(j)
            adj[j].add(i)
    return weights, adj, xs, ys


def draw_case(data: st.DataObject, n: int) -> tuple[list[int], set[int], tuple[float, float]]:
    """An order of the items to grow from, up to two fixed items and a range of group weights."""
    order = data.draw(st.permutations(range(n)))
    fixed = set(data.draw(st.lists(st.integers(0, n - 1), max_size=2)))
    return order, fixed, data.draw(st.sampled_from([(LO, HI), (30.0, 60.0), (5.0, 9.0)]))


def both(monkeypatch: pytest.MonkeyPatch, run):  # type: ignore[no-untyped-def]
    """`run()` compiled, then with the Python reference."""
    monkeypatch.setattr(compiled, "ENABLED", True)
    fast = run()
    monkeypatch.setattr(compiled, "ENABLED", False)
    slow = run()
    monkeypatch.setattr(compiled, "ENABLED", True)
    return fast, slow


def test_csr_keeps_every_row_in_its_order():
    adj = [[2, 1], [], [0], [0, 2, 1]]
    indptr, indices = compiled.csr(adj)
    assert [indices[indptr[i] : indptr[i + 1]].tolist() for i in range(len(adj))] == adj


@settings(max_examples=150, deadline=None)
@given(plane_graphs(), st.data())
def test_grow_compiled_makes_the_same_groups(graph, data):
    weights, adj, xs, ys = graph
    order, fixed, _ranges = draw_case(data, len(weights))
    with pytest.MonkeyPatch.context() as mp:
        fast, slow = both(mp, lambda: grow(list(order), weights, adj, LO, HI, xs, ys, fixed))
    assert fast == slow
    assert sorted(m for g in fast for m in g) == list(range(len(weights)))


@settings(max_examples=150, deadline=None)
@given(plane_graphs(max_size=30), st.data())
def test_mend_compiled_makes_the_same_groups(graph, data):
    weights, adj, xs, ys = graph
    order = data.draw(st.permutations(range(len(weights))))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "ENABLED", False)
        groups = grow(list(order), weights, adj, LO, HI, xs, ys, set())
        fast, slow = both(mp, lambda: mend([list(g) for g in groups], weights, adj, LO, HI, xs, ys, set()))
    assert fast == slow


@settings(max_examples=100, deadline=None)
@given(plane_graphs(max_size=30), st.data())
def test_mend_compiled_mends_only_the_focus_like_the_reference(graph, data):
    weights, adj, xs, ys = graph
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "ENABLED", False)
        groups = grow(list(range(len(weights))), weights, adj, LO, HI, xs, ys, set())
        focus = set(data.draw(st.lists(st.integers(0, len(groups) - 1), max_size=3)))
        fast, slow = both(
            mp, lambda: mend([list(g) for g in groups], weights, adj, LO, HI, xs, ys, set(), focus=set(focus))
        )
    assert fast == slow


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 40_000), max_size=120), st.integers(1, 4))
def test_set_table_lays_out_a_set_as_cpython_does(keys, scale):
    keys = [k // scale for k in keys]  # (small values: more collisions and duplicates)
    table = compiled.set_table(np.array(keys, dtype=np.int64), len(keys))
    assert [int(k) for k in table if k >= 0] == list(set(keys))


@settings(max_examples=200, deadline=None)
@given(plane_graphs(), st.data())
def test_repair_compiled_makes_the_same_groups(graph, data):
    weights, adj, xs, ys = graph
    order, fixed, (lo, hi) = draw_case(data, len(weights))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "ENABLED", False)
        groups = grow(list(order), weights, adj, lo, hi, xs, ys, set())
        # (scrambled a little: groups in pieces, groups too big)
        if len(groups) > 2 and data.draw(st.booleans()):
            groups = [groups[0] + groups[-1], *groups[1:-1]]
        fast, slow = both(mp, lambda: repair([list(g) for g in groups], weights, adj, lo, hi, fixed=fixed))
    assert fast == slow


@settings(max_examples=200, deadline=None)
@given(plane_graphs(), st.data())
def test_chains_compiled_make_the_same_groups(graph, data):
    """Short groups filled by chains of whole-item moves, or dissolved, exactly as the reference does
    (which also depends on the order CPython's sets keep their members in)."""
    weights, adj, xs, ys = graph
    order, fixed, (lo, hi) = draw_case(data, len(weights))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "ENABLED", False)
        groups = grow(list(order), weights, adj, lo, hi, xs, ys, set())
        fast, slow = both(
            mp,
            lambda: fill_by_chains(
                [list(g) for g in groups], weights, adj, lo, hi, xs, ys, fixed=fixed, pushing=False
            ),
        )
    assert fast == slow


def test_warm_compiles_every_kernel():
    compiled.warm()  # (raises if a kernel does not compile)
    assert compiled.grow_groups.signatures and compiled.mend_groups.signatures
    assert compiled.donate_groups.signatures and compiled.donation_links.signatures


@settings(max_examples=300, deadline=None)
@given(plane_graphs(max_size=14), st.data())
def test_region_cut_is_the_exact_recut(graph, data):
    """The compiled re-cut of a region (preferring some of its groups) finds what `exact_recut` finds."""
    weights, adj, xs, ys = graph
    m = len(weights)
    members = data.draw(st.permutations(range(m)))
    prefer = [sorted(set(data.draw(st.lists(st.integers(0, m - 1), min_size=1, max_size=4))))]
    want = exact_recut(list(members), weights, adj, LO, HI, xs, ys, prefer={frozenset(g) for g in prefer})
    indptr, indices = compiled.csr(adj)
    local = np.full(m, -1, dtype=np.int64)
    order, label, k = compiled.region_cut(
        np.array(members, dtype=np.int64), indptr, indices, *(np.array(v) for v in (weights, xs, ys)),
        LO, HI, np.array(prefer[0], dtype=np.int64), np.array([0, len(prefer[0])], dtype=np.int64), local,
        False, compiled.workspace(m),
    )  # fmt: skip
    assert (local == -1).all()
    got = [[int(g) for g, lab in zip(order, label, strict=True) if lab == c] for c in range(k)]
    assert got == (want or [])


@pytest.mark.parametrize(("seed", "barrier"), [(1, False), (2, False), (3, False), (4, True), (5, True)])
def test_partition_compiled_gives_the_same_plan(monkeypatch, seed, barrier):
    community = lattice_community(300, seed=seed, irregular=barrier)
    if barrier:  # a street across the middle: two blocks, each cut on its own when its total allows
        minx, miny, maxx, maxy = community.boundary.bounds
        mid = (miny + maxy) / 2
        community.barriers.append(LineString([(minx - 10, mid), (maxx + 10, mid + 13)]))
    p = engine.prepare(community, Config())
    assert len(set(p.blocks)) == (2 if barrier else 1)

    def run():  # type: ignore[no-untyped-def]
        items, adj = list(p.items), [set(s) for s in p.adj]
        plan = engine.partition(
            items, adj, p.blocks, Config(), centres=p.centres, household_weights=p.household_weights
        )
        return plan.area_of, plan.grid_of_area, [it.key for it in plan.items], plan.donations

    fast, slow = both(monkeypatch, run)
    assert fast == slow


@settings(max_examples=300, deadline=None)
@given(plane_graphs(), st.data())
def test_donate_compiled_makes_the_same_donations(graph, data):
    """Groups grown on a random graph, then donations compiled and in Python: the same items, groups,
    links, donations (items of whole buildings and slices, households weighing ½, 1 or 2)."""
    weights, adj, xs, ys = graph
    order, _fixed, (lo, hi) = draw_case(data, len(weights))
    items: list[Item] = []
    households: dict[str, tuple[float, ...]] = {}
    for i, w in enumerate(weights):
        before = data.draw(st.integers(0, 3))  # households of the building in earlier slices
        size = before + max(1, int(w) // 2)
        hw = tuple(data.draw(st.sampled_from([0.5, 1.0, 1.0, 2.0])) for _ in range(size))
        households[f"b{i}"] = hw
        part, count = 1 if before else 0, len(hw) - before
        items.append(Item(f"b{i}", part, before, count, sum(hw[before:]), xs[i], ys[i]))
    w0 = [it.weight for it in items]
    groups = grow(list(order), w0, adj, lo, hi, xs, ys, set())
    only = None
    if data.draw(st.booleans()):
        only = set(data.draw(st.lists(st.integers(0, len(groups)), max_size=4)))

    def run():  # type: ignore[no-untyped-def]
        it, ww, x, y, links, log = list(items), list(w0), list(xs), list(ys), [set(s) for s in adj], []
        got = donate(
            [list(g) for g in groups], it, ww, x, y, links, lo, hi, households, log=log, only=only,
            graph=compiled.csr(adj),
        )  # fmt: skip
        return got, it, ww, x, y, links, log

    with pytest.MonkeyPatch.context() as mp:
        if data.draw(st.booleans()):  # no donor known beforehand: each is looked up when first met
            mp.setattr(compiled, "donor_candidates", lambda *a: np.zeros(0, dtype=np.int64))
        fast, slow = both(mp, run)
    assert fast == slow  # (about 4 cases in 10 donate)


@settings(max_examples=200, deadline=None)
@given(plane_graphs(), st.data())
def test_donation_links_compiled_are_the_reference(graph, data):
    """The areas' graph after donations (given items linked to their donor and its neighbours in the
    receiving area; donors keep their own area's links): the same rows as sets."""
    _weights, adj, _xs, _ys = graph
    n = len(adj)
    links = [set(s) for s in adj]
    pairs: list[tuple[int, int]] = []
    for _ in range(data.draw(st.integers(0, 5))):  # each donor an item before, or a given item itself
        donor = data.draw(st.integers(0, n + len(pairs) - 1))
        given = n + len(pairs)
        links.append(links[donor] | {donor})
        for j in links[given]:
            links[j].add(given)
        pairs.append((donor, given))
    label = data.draw(st.lists(st.integers(0, 3), min_size=len(links), max_size=len(links)))
    want = engine.donation_links(links, n, pairs, label)
    donors, givens = (np.array([p[k] for p in pairs], dtype=np.int64) for k in (0, 1))
    indptr, indices = compiled.donation_links(
        *compiled.csr(links), n, donors, givens, np.array(label, dtype=np.int64)
    )
    assert [set(indices[indptr[i] : indptr[i + 1]].tolist()) for i in range(len(want))] == want
    assert all(
        len(set(indices[indptr[i] : indptr[i + 1]].tolist())) == indptr[i + 1] - indptr[i]
        for i in range(len(want))
    )


@settings(max_examples=200, deadline=None)
@given(plane_graphs(), st.data())
def test_area_graph_keeps_the_sets_order(graph, data):
    """The groups' neighbour sets built compiled, rows in the order `group_areas`'s Python sets walk."""
    _weights, adj, _xs, _ys = graph
    k = data.draw(st.integers(1, max(1, len(adj) // 2)))
    label = data.draw(st.lists(st.integers(0, k - 1), min_size=len(adj), max_size=len(adj)))
    want: list[set[int]] = [set() for _ in range(k)]
    for i, nbs in enumerate(adj):
        for j in sorted(nbs):
            if label[i] != label[j]:
                want[label[i]].add(label[j])
    indptr, indices = compiled.area_graph(np.array(label, dtype=np.int64), k, *compiled.csr(adj))
    assert [indices[indptr[a] : indptr[a + 1]].tolist() for a in range(k)] == [list(s) for s in want]
