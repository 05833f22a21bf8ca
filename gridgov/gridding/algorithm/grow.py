"""Greedy region growing and an exact small-neighbourhood search for weight-range partitions.

`grow` seeds groups in sequence order (Hilbert order keeps them local) and adds the neighbour that
lands the sum in range, preferring heavy elements (light ones are the flexible fillers that later
groups need). `exact_recut` re-partitions a small neighbourhood exhaustively (bounded search)
into connected groups in range, choosing the most compact; `mend` applies it around every
group that is still out of range or in pieces.
"""

from __future__ import annotations

import math

from .repair import components


def grow(
    order: list[int],
    weights: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    xs: list[float],
    ys: list[float],
    fixed: set[int],
) -> list[list[int]]:
    owner: dict[int, int] = {}
    groups: list[list[int]] = []
    for seed in order:
        if seed in owner:
            continue
        g = [seed]
        owner[seed] = len(groups)
        s = weights[seed]
        tx, ty = xs[seed], ys[seed]  # running sums of the group's centres, in the order added
        if seed not in fixed:
            frontier = {b for b in adj[seed] if b not in owner and b not in fixed}
            while s < lo - 1e-9 and frontier:
                sx = tx / len(g)
                sy = ty / len(g)
                dist = {c: (xs[c] - sx) ** 2 + (ys[c] - sy) ** 2 for c in frontier}
                free_degree = {
                    c: sum(1 for b in adj[c] if b not in owner and b not in fixed) for c in frontier
                }

                # Land in range if possible, taking the element that would be hardest to place later
                # (fewest unassigned neighbours, then heaviest); else take the nearest that fits.
                landing = [c for c in frontier if lo - 1e-9 <= s + weights[c] <= hi + 1e-9]
                if landing:
                    c = min(landing, key=lambda c: (free_degree[c], -weights[c], dist[c]))
                else:
                    under = [c for c in frontier if s + weights[c] < lo - 1e-9]
                    if not under:
                        break
                    c = min(under, key=lambda c: (free_degree[c] > 1, dist[c]))
                g.append(c)
                owner[c] = len(groups)
                s += weights[c]
                tx += xs[c]
                ty += ys[c]
                frontier.discard(c)
                frontier |= {b for b in adj[c] if b not in owner and b not in fixed}
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
    penalty = 1e12 if prefer else 0.0
    order = sorted(members, key=lambda m: (xs[m], ys[m]))
    m = len(order)
    local = {g: i for i, g in enumerate(order)}
    nbr = [0] * m
    for i, g in enumerate(order):
        for b in adj[g]:
            j = local.get(b)
            if j is not None:
                nbr[i] |= 1 << j
    w = [weights[g] for g in order]
    px = [xs[g] for g in order]
    py = [ys[g] for g in order]
    prefer_masks = set()
    for group in prefer:
        if all(g in local for g in group):
            prefer_masks.add(sum(1 << local[g] for g in group))
    # Options per first element: connected groups whose lowest index is that element. Each stack entry
    # carries the group's running sums, so its spread (sum of squared distances to its centre) costs O(1).
    # Enumerated on demand: a failing search often never reaches most first elements.
    first: list[list[tuple[float, int, float]] | None] = [None] * m

    def options(v: int) -> list[tuple[float, int, float]]:
        found = first[v]
        if found is not None:
            return found
        found = []
        # ESU enumeration: every connected subset with lowest element v exactly once, no dedup set.
        above = ~((1 << (v + 1)) - 1)
        start_reach = nbr[v] | (1 << v)
        stack = [(1 << v, nbr[v] & above, w[v], 1, px[v], py[v], px[v] * px[v] + py[v] * py[v], start_reach)]
        produced = 0
        while stack and produced < 600:
            mask, ext, total, n, sx, sy, sq, reach = stack.pop()
            produced += 1
            if total >= lo - 1e-9:
                spread = sq - (sx * sx + sy * sy) / n
                found.append((spread + (0.0 if mask in prefer_masks else penalty), mask, total))
            while ext:
                low = ext & -ext
                ext ^= low
                j = low.bit_length() - 1
                if total + w[j] > hi + 1e-9:
                    continue
                child_ext = ext | (nbr[j] & ~reach & above)
                stack.append(
                    (
                        mask | low,
                        child_ext,
                        total + w[j],
                        n + 1,
                        sx + px[j],
                        sy + py[j],
                        sq + px[j] * px[j] + py[j] * py[j],
                        reach | nbr[j] | low,
                    )
                )
        found.sort()
        first[v] = found
        return found

    full = (1 << m) - 1
    best_cost = [float("inf")]
    best_masks: list[int] = []
    chosen: list[int] = []
    steps = [0]

    def search(covered: int, cost: float, left: float) -> None:
        steps[0] += 1
        if steps[0] > budget or cost >= best_cost[0]:
            return
        if covered == full:
            best_cost[0] = cost
            best_masks[:] = chosen
            return
        # What is left must still be cut into groups in range: k groups need lo·k ≤ left ≤ hi·k.
        if math.ceil(left / hi - 1e-9) * lo > left + 1e-9:
            return
        free = full & ~covered
        v = (free & -free).bit_length() - 1
        found = first[v]
        for c, mask, t in found if found is not None else options(v):
            if mask & covered:
                continue
            chosen.append(mask)
            search(covered | mask, cost + c, left - t)
            chosen.pop()
            if steps[0] > budget:
                return

    search(0, 0.0, sum(w))
    if not best_masks:
        return None
    return [[order[i] for i in range(m) if mask >> i & 1] for mask in best_masks]


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
) -> list[list[int]]:
    """Re-cut the neighbourhood of each bad group exactly; grow the neighbourhood while it fails.

    With `focus` (indices into `groups`), only those groups are mended: a re-grid leaves alone the
    groups the change did not touch, even those that were already out of range before it.
    """
    from .splitting import feasible_total

    out = [list(g) for g in groups]

    def bad(g: list[int]) -> bool:
        s = sum(weights[m] for m in g)
        return s < lo - 1e-9 or s > hi + 1e-9 or (len(g) > 1 and len(components(g, adj)) > 1)

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
                    (h for h in ring if not any(m in fixed for m in out[h])),
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
                    if key in failed or not feasible_total(sum(weights[m] for m in members), lo, hi):
                        continue
                    cut = exact_recut(
                        members, weights, adj, lo, hi, xs, ys, prefer={frozenset(out[k]) for k in attempt}
                    )
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
