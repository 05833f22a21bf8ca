"""Greedy region growing and an exact small-neighbourhood search for weight-range partitions.

`grow` seeds groups in sequence order (Hilbert order keeps them local) and adds the neighbour that
lands the sum in range, preferring heavy elements (light ones are the flexible fillers that later
groups need). `exact_recut` re-partitions a small neighbourhood exhaustively (bounded search)
into connected groups in range, choosing the most compact; `mend` applies it around every
group that is still out of range or in pieces.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from itertools import chain, pairwise

import numpy as np

from . import compiled
from .repair import connected
from .splitting import feasible_total


def grow(
    order: list[int],
    weights: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    xs: list[float],
    ys: list[float],
    fixed: set[int],
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Groups in sequence `order` (compiled: `compiled.grow_groups`, on `graph`, `adj` as CSR arrays if
    the caller has them; the code below is the reference)."""
    if compiled.ENABLED:
        indptr, indices = graph if graph is not None else compiled.csr(adj)
        fx = np.zeros(len(adj), dtype=np.bool_)
        fx[list(fixed)] = True
        members, starts = compiled.grow_groups(
            np.asarray(order, dtype=np.int64), indptr, indices, np.asarray(weights, dtype=np.float64),
            np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64), float(lo), float(hi), fx,
        )  # fmt: skip
        flat, bounds = members.tolist(), starts.tolist()
        return [flat[a:b] for a, b in pairwise(bounds)]
    n = len(adj)
    taken = bytearray(n)  # assigned to a group, or fixed: not free to join one
    for f in fixed:
        taken[f] = 1
    # Free neighbours of each element, kept up to date as elements are taken (through reverse links:
    # the neighbour graph itself when it is symmetric, as it should be; built only if it is not).
    free_degree = [len(nbs) for nbs in adj]
    for f in fixed:
        for c in range(n):
            if f in adj[c]:
                free_degree[c] -= 1
    linked: Sequence[Collection[int]] = adj
    if not all(c in adj[b] for c in range(n) for b in adj[c]):
        reverse: list[list[int]] = [[] for _ in range(n)]
        for c in range(n):
            for b in adj[c]:
                reverse[b].append(c)
        linked = reverse

    def take(x: int) -> None:
        if not taken[x]:
            taken[x] = 1
            for c in linked[x]:
                free_degree[c] -= 1

    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    owned = bytearray(n)
    groups: list[list[int]] = []
    for seed in order:
        if owned[seed]:
            continue
        g = [seed]
        owned[seed] = 1
        is_fixed = seed in fixed
        take(seed)
        s = weights[seed]
        tx, ty = xs[seed], ys[seed]  # running sums of the group's centres, in the order added
        if not is_fixed:
            frontier = {b for b in adj[seed] if not taken[b]}
            while s < lo_e and frontier:
                sx = tx / len(g)
                sy = ty / len(g)

                # Land in range if possible, taking the element that would be hardest to place later
                # (fewest unassigned neighbours, then heaviest); else take the nearest that fits.
                landing = [c for c in frontier if lo_e <= s + weights[c] <= hi_e]
                if landing:
                    c = min(
                        landing,
                        key=lambda c: (free_degree[c], -weights[c], (xs[c] - sx) ** 2 + (ys[c] - sy) ** 2),
                    )
                else:
                    under = [c for c in frontier if s + weights[c] < lo_e]
                    if not under:
                        break
                    c = min(under, key=lambda c: (free_degree[c] > 1, (xs[c] - sx) ** 2 + (ys[c] - sy) ** 2))
                g.append(c)
                owned[c] = 1
                take(c)
                s += weights[c]
                tx += xs[c]
                ty += ys[c]
                frontier.discard(c)
                frontier |= {b for b in adj[c] if not taken[b]}
        groups.append(g)
    return groups


def exact_recut(
    members: list[int],
    weights: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    xs: list[float],
    ys: list[float],
    budget: int = 20000,
    prefer: set[frozenset[int]] | None = None,
) -> list[list[int]] | None:
    """A partition of `members` into connected groups in [lo, hi] (most compact found), or None.

    Groups in `prefer` (the groups as they were) cost nothing extra; any other group costs a
    penalty, so the search keeps as many existing groups as it can and changes only what it must.
    Exact cover on bitmasks: every connected group in range is listed once under its first element
    (west to east); the search always covers the first uncovered element next.
    """
    prefer = prefer or set()
    order = sorted(members, key=lambda m: (xs[m], ys[m]))
    local = {g: i for i, g in enumerate(order)}
    prefer_masks = set()
    for group in prefer:
        if all(g in local for g in group):
            prefer_masks.add(sum(1 << local[g] for g in group))
    masks = _cover(
        _links(order, local, adj),
        [weights[g] for g in order],
        [xs[g] for g in order],
        [ys[g] for g in order],
        lo,
        hi,
        budget,
        prefer_masks,
        1e12 if prefer else 0.0,
    )
    if masks is None:
        return None
    return [[order[i] for i in range(len(order)) if mask >> i & 1] for mask in masks]


def _links(order: list[int], local: dict[int, int], adj: list[set[int]]) -> list[int]:
    """Each member's neighbours among the members, as a bitmask of local indices."""
    nbr = [0] * len(order)
    get = local.get
    for i, g in enumerate(order):
        bits = 0
        for b in adj[g]:
            j = get(b)
            if j is not None:
                bits |= 1 << j
        nbr[i] = bits
    return nbr


def _cover(
    nbr: list[int],
    w: list[float],
    px: list[float],
    py: list[float],
    lo: float,
    hi: float,
    budget: int,
    prefer_masks: set[int],
    penalty: float,
) -> list[int] | None:
    """The exact cover search of `exact_recut` on local indices (members in west-to-east order):
    the chosen groups as bitmasks, or None."""
    m = len(w)
    pxx = [x * x for x in px]
    pyy = [y * y for y in py]
    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    # Options per first element: connected groups whose lowest index is that element. Each stack entry
    # carries the group's running sums, so its spread (sum of squared distances to its centre) costs O(1).
    # Enumerated on demand: a failing search often never reaches most first elements.
    first: list[list[tuple[float, int, float]] | None] = [None] * m

    def options(v: int) -> list[tuple[float, int, float]]:
        found: list[tuple[float, int, float]] = []
        add = found.append
        # ESU enumeration: every connected subset with lowest element v exactly once, no dedup set.
        above = ~((1 << (v + 1)) - 1)
        stack = [(1 << v, nbr[v] & above, w[v], 1, px[v], py[v], pxx[v] + pyy[v], nbr[v] | (1 << v))]
        push, pop = stack.append, stack.pop
        produced = 0
        while stack and produced < 600:
            mask, ext, total, n, sx, sy, sq, reach = pop()
            produced += 1
            if total >= lo_e:
                spread = sq - (sx * sx + sy * sy) / n
                add((spread + (0.0 if mask in prefer_masks else penalty), mask, total))
            while ext:
                low = ext & -ext
                ext ^= low
                j = low.bit_length() - 1
                tj = total + w[j]
                if tj > hi_e:
                    continue
                push(
                    (
                        mask | low,
                        ext | (nbr[j] & ~reach & above),
                        tj,
                        n + 1,
                        sx + px[j],
                        sy + py[j],
                        sq + pxx[j] + pyy[j],
                        reach | nbr[j] | low,
                    )
                )
        found.sort()
        first[v] = found
        return found

    full = (1 << m) - 1
    best_cost = math.inf
    best: list[int] | None = None
    chosen: list[int] = []
    steps = 1
    ceil = math.ceil
    dead: set[int] = set()  # states with no cover left (known while nothing is found: no cost bound)

    def search(covered: int, cost: float, left: float) -> None:
        """Cover the first uncovered element by each of its options in turn; every child state is
        checked here before descending (budget, cost bound, a full cover, known dead ends, and
        whether what is left can still be cut into groups in range: k groups need lo·k ≤ left ≤ hi·k)."""
        nonlocal steps, best_cost, best
        free = full ^ covered
        v = (free & -free).bit_length() - 1
        found = first[v]
        for c, mask, t in found if found is not None else options(v):
            if mask & covered:
                continue
            steps += 1
            if steps > budget:
                return
            total = cost + c
            if total >= best_cost:
                continue
            now = covered | mask
            if now == full:
                best_cost = total
                best = [*chosen, mask]
                continue
            if now in dead:
                continue
            rest = left - t
            if ceil(rest / hi - 1e-9) * lo > rest + 1e-9:
                continue
            chosen.append(mask)
            search(now, total, rest)
            chosen.pop()
            if steps > budget:
                return
        if best is None:
            dead.add(covered)

    left = sum(w)
    if m and ceil(left / hi - 1e-9) * lo <= left + 1e-9:
        search(0, 0.0, left)
    return best


def mend(
    groups: list[list[int]],
    weights: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    xs: list[float],
    ys: list[float],
    fixed: set[int],
    max_region: int = 24,
    focus: set[int] | None = None,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Re-cut the neighbourhood of each bad group exactly; grow the neighbourhood while it fails.

    With `focus` (indices into `groups`), only those groups are mended: a re-grid leaves alone the
    groups the change did not touch, even those that were already out of range before it.
    `graph`: `adj` as CSR arrays, if the caller has them. Runs compiled (`compiled.mend_groups`, the
    same steps; `focus` is then left as given); the code below is the Python reference.
    """
    if compiled.ENABLED and max_region <= compiled.MAX_MEMBERS:
        indptr, indices = graph if graph is not None else compiled.csr(adj)
        fx = np.zeros(len(adj), dtype=np.bool_)
        fx[list(fixed)] = True
        fo = np.zeros(len(groups), dtype=np.bool_)
        fo[[f for f in focus or () if f < len(groups)]] = True
        bounds = np.zeros(len(groups) + 1, dtype=np.int64)
        bounds[1:] = [len(g) for g in groups]
        flat, ends = compiled.mend_groups(
            np.fromiter(chain.from_iterable(groups), dtype=np.int64, count=int(bounds.sum())),
            bounds.cumsum(), indptr, indices, *(np.asarray(v, dtype=np.float64) for v in (weights, xs, ys)),
            float(lo), float(hi), fx, max_region, fo, focus is not None,
        )  # fmt: skip
        members, ends = flat.tolist(), ends.tolist()
        return [members[a:b] for a, b in pairwise(ends)]
    out = [list(g) for g in groups]
    weight = weights.__getitem__
    lo_e, hi_e = lo - 1e-9, hi + 1e-9

    def bad(g: list[int]) -> bool:
        s = sum(map(weight, g))
        return s < lo_e or s > hi_e or (len(g) > 1 and not connected(g, adj))

    xy = list(zip(xs, ys, strict=True))  # sort keys (west to east) as `exact_recut` takes them

    def recut(members: list[int], key: frozenset[int], attempt: list[int]) -> list[list[int]] | None:
        """`exact_recut(members, …, prefer=the groups of attempt)`, without building the sets."""
        order = sorted(members, key=xy.__getitem__)
        local = {g: i for i, g in enumerate(order)}
        nbr = []
        for g in order:
            bits = 0
            for b in key.intersection(adj[g]):
                bits |= 1 << local[b]
            nbr.append(bits)
        prefer_masks = set()
        for k in attempt:
            mask = 0
            for g in out[k]:
                mask |= 1 << local[g]
            prefer_masks.add(mask)
        masks = _cover(
            nbr,
            [weights[g] for g in order],
            [xs[g] for g in order],
            [ys[g] for g in order],
            lo,
            hi,
            20000,
            prefer_masks,
            1e12,
        )
        if masks is None:
            return None
        return [[order[i] for i in range(len(order)) if mask >> i & 1] for mask in masks]

    # A region with a stranded member has no re-cut: skip the exact search (about half of the searches
    # that fail in the bench city). Sound only for weights that are never negative.
    nonneg = min(weights, default=0.0) >= 0
    partners: dict[int, list[int]] = {}

    failed: set[frozenset[int]] = set()  # regions known to have no valid re-cut
    still: list[list[int]] | None = None  # after the first round: the groups a round left bad
    for _round in range(3):
        owner = {m: gi for gi, g in enumerate(out) for m in g}
        if still is None:
            todo = [gi for gi, g in enumerate(out) if g and (focus is None or gi in focus) and bad(g)]
        else:  # groups made by a re-cut are in range and in one piece: only the ones left bad remain
            ids = {id(g) for g in still}
            todo = [gi for gi, g in enumerate(out) if id(g) in ids]
        if not todo:
            break
        for gi in todo:
            if not out[gi] or not bad(out[gi]):
                continue
            region = [gi]
            cx = sum(xs[m] for m in out[gi]) / len(out[gi])
            cy = sum(ys[m] for m in out[gi]) / len(out[gi])
            size = len(out[gi])
            # Widen ring by ring (nearest groups first, up to max_region elements); one exact re-cut
            # per ring: the preference for existing groups keeps a wide re-cut from changing more.
            for radius in range(3):
                ring = {owner[b] for h in region for a in out[h] for b in adj[a]} - set(region)
                ring_sorted = sorted(
                    (h for h in ring if not fixed or fixed.isdisjoint(out[h])),
                    key=lambda h: (xs[out[h][0]] - cx) ** 2 + (ys[out[h][0]] - cy) ** 2,
                )
                tries: list[list[int]] = []
                for h in ring_sorted:
                    if size + len(out[h]) > max_region:
                        continue
                    region.append(h)
                    size += len(out[h])
                    tries.append(list(region))  # the nearest neighbours first: smallest change
                # Bound the searches per bad group: every other step on wider rings, and the whole ring.
                if radius > 0:
                    tries = tries[1::2] + ([] if tries[-1:] == tries[1::2][-1:] else tries[-1:])
                done = False
                for attempt in tries:
                    members = [m for k in attempt for m in out[k]]
                    key = frozenset(members)
                    if key in failed or not feasible_total(sum(map(weight, members)), lo, hi):
                        continue
                    lost = nonneg and stranded(members, key, weights, adj, lo_e, hi_e, partners)
                    cut = None if lost else recut(members, key, attempt)
                    if cut is None:
                        failed.add(key)
                        continue
                    for k in attempt:
                        out[k] = []
                    for g in cut:
                        if focus is not None:
                            focus.add(len(out))
                        out.append(g)
                        for m in g:
                            owner[m] = len(out) - 1
                    done = True
                    break
                if done or not tries:
                    break
        still = [out[gi] for gi in todo if out[gi] and bad(out[gi])]
        out = [g for g in out if g]
    return out


def stranded(
    members: Sequence[int],
    key: frozenset[int],
    weights: list[float],
    adj: Sequence[Collection[int]],
    lo_e: float,
    hi_e: float,
    partners: dict[int, list[int]],
) -> bool:
    """Whether a member of `members` (`key` is the same as a set) lighter than the range can share a
    group with none of its neighbours among them (each would take the pair above the range): then no
    cut of `members` into connected groups in [lo_e, hi_e] exists. For non-negative weights only.
    `partners` caches each light member's neighbours that it could share a group with."""
    for u in members:
        wu = weights[u]
        if wu >= lo_e:
            continue
        fit = partners.get(u)
        if fit is None:
            fit = partners[u] = [j for j in adj[u] if wu + weights[j] <= hi_e]
        if not key.isdisjoint(fit):
            continue
        if any(x != u and wu + weights[x] <= hi_e and u in adj[x] for x in members):
            continue  # (a link only towards u: the neighbour graph is symmetric, but be sure)
        return True
    return False
