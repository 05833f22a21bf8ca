"""Local repair of groups the sequence cut could not make valid (disconnected or out of range)."""

from __future__ import annotations

from itertools import chain, pairwise

import numpy as np

from . import compiled


def components(members: list[int], adj: list[set[int]]) -> list[list[int]]:
    """Connected components of `members` in the adjacency graph."""
    left = set(members)
    out = []
    while left:
        comp = [left.pop()]
        i = 0
        while i < len(comp):  # breadth first: the component in the order its members are reached
            for b in adj[comp[i]]:
                if b in left:
                    left.remove(b)
                    comp.append(b)
            i += 1
        out.append(comp)
    return out


def connected(members: list[int], adj: list[set[int]]) -> bool:
    """Whether `members` form one piece (`len(components(members, adj)) <= 1`), stopping once they do."""
    left = set(members)
    if not left:
        return True
    stack = [left.pop()]
    while stack:
        for b in adj[stack.pop()]:
            if b in left:
                left.remove(b)
                if not left:
                    return True
                stack.append(b)
    return not left


def _connected_without(members: set[int], drop: int, adj: list[set[int]]) -> bool:
    rest = [m for m in members if m != drop]
    return len(rest) <= 1 or len(components(rest, adj)) == 1


def repair(
    groups: list[list[int]],
    weights: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    *,
    fixed: set[int] | None = None,
    rounds: int = 6,
    take_first: bool = False,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Split disconnected groups into components, then merge or trade boundary elements between
    neighbouring groups until every group is connected and within [lo, hi], or nothing helps.

    An undersized group is merged into a neighbour when the sum fits, else takes boundary elements
    from neighbours that can spare them; with `take_first` it tries taking first (a re-grid: moving
    one element changes fewer codes than merging a whole group).

    Without `take_first` it runs compiled (`compiled.repair_groups`, on `graph`, `adj` as CSR arrays in
    the sets' own order, if the caller has them): the same steps, sets walked in CPython's order; the
    code below is the Python reference."""
    fixed = fixed or set()
    if compiled.ENABLED and not take_first:
        indptr, indices = graph if graph is not None else compiled.csr(adj)
        fx = np.zeros(len(adj), dtype=np.bool_)
        fx[list(fixed)] = True
        bounds = np.zeros(len(groups) + 1, dtype=np.int64)
        bounds[1:] = [len(g) for g in groups]
        flat, ends = compiled.repair_groups(
            np.fromiter(chain.from_iterable(groups), dtype=np.int64, count=int(bounds.sum())),
            bounds.cumsum(), indptr, indices, np.asarray(weights, dtype=np.float64), float(lo), float(hi),
            fx, rounds,
        )  # fmt: skip
        members, ends = flat.tolist(), ends.tolist()
        return [members[a:b] for a, b in pairwise(ends)]
    out: list[list[int]] = []
    for g in groups:
        out.extend(components(g, adj) if len(g) > 1 else [g])
    for _ in range(rounds):
        owner = {m: gi for gi, g in enumerate(out) for m in g}
        sizes = [sum(weights[m] for m in g) for g in out]
        bad = [gi for gi, s in enumerate(sizes) if (s < lo - 1e-9 or s > hi + 1e-9) and out[gi]]
        if not bad:
            break
        changed = False
        for gi in bad:
            g = set(out[gi])
            if not g:
                continue
            if sizes[gi] < lo - 1e-9:
                if take_first and _take(gi, g, out, owner, sizes, weights, adj, lo, hi, fixed):
                    changed = True
                    if sizes[gi] >= lo - 1e-9:
                        continue
                neighbours = {owner[b] for a in g for b in adj[a] if owner.get(b, gi) != gi}
                # 1. merge into a neighbour when the sum fits
                fits = [
                    h for h in neighbours if sizes[h] + sizes[gi] <= hi + 1e-9 and not (set(out[h]) & fixed)
                ]
                if fits:
                    h = min(fits, key=lambda h: abs(sizes[h] + sizes[gi] - (lo + hi) / 2))
                    out[h].extend(out[gi])
                    sizes[h] += sizes[gi]
                    for m in out[gi]:
                        owner[m] = h
                    out[gi], sizes[gi] = [], 0.0
                    changed = True
                    continue
                # 2. take boundary elements from neighbours that can spare them
                if not take_first and _take(gi, g, out, owner, sizes, weights, adj, lo, hi, fixed):
                    changed = True
            else:
                # Oversized: give boundary elements to neighbours with room.
                for a in sorted(g, key=lambda m: weights[m]):
                    if a in fixed or sizes[gi] <= hi + 1e-9:
                        continue
                    for b in adj[a]:
                        h = owner.get(b)
                        if h is None or h == gi:
                            continue
                        if sizes[h] + weights[a] <= hi + 1e-9 and _connected_without(set(out[gi]), a, adj):
                            out[gi].remove(a)
                            out[h].append(a)
                            sizes[gi] -= weights[a]
                            sizes[h] += weights[a]
                            owner[a] = h
                            changed = True
                            break
        out = [g for g in out if g]
        if not changed:
            break
    return out


def _take(
    gi: int,
    g: set[int],
    out: list[list[int]],
    owner: dict[int, int],
    sizes: list[float],
    weights: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    fixed: set[int],
) -> bool:
    """Undersized group `gi` takes boundary elements from neighbours that can spare them."""
    changed = False
    for a in list(g):
        for b in adj[a]:
            h = owner.get(b)
            if h is None or h == gi or b in fixed:
                continue
            if (
                sizes[h] - weights[b] >= lo - 1e-9
                and sizes[gi] + weights[b] <= hi + 1e-9
                and _connected_without(set(out[h]), b, adj)
            ):
                out[h].remove(b)
                out[gi].append(b)
                sizes[h] -= weights[b]
                sizes[gi] += weights[b]
                owner[b] = gi
                g.add(b)
                changed = True
        if sizes[gi] >= lo - 1e-9:
            break
    return changed
