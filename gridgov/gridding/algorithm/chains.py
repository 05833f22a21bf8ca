"""Whole-item moves along chains of neighbouring groups, before anything is re-cut or cut.

An undersized group takes one boundary item from a neighbour; if that leaves the neighbour short,
the neighbour takes one from another group, and so on (an ejection chain, found breadth first and
bounded), until a group that can spare the item ends it. Every group on a chain stays connected and,
except the one that was short, stays in range. A short group that no chain can fill is dissolved
instead when its neighbours have room for all of its items. No building is cut.
"""

from __future__ import annotations

from collections import deque
from itertools import chain as chain_
from itertools import pairwise

import numpy as np

from . import compiled

EPS = 1e-9


def _connected(members: set[int], adj: list[set[int]]) -> bool:
    if len(members) <= 1:
        return True
    start = next(iter(members))
    seen = {start}
    stack = [start]
    while stack:
        a = stack.pop()
        for b in adj[a]:
            if b in members and b not in seen:
                seen.add(b)
                stack.append(b)
    return len(seen) == len(members)


def fill_by_chains(
    groups: list[list[int]],
    weights: list[float],
    adj: list[set[int]],
    lo: float,
    hi: float,
    xs: list[float],
    ys: list[float],
    max_depth: int = 5,
    max_states: int = 300,
    focus: set[int] | None = None,
    keep_empty: bool = False,
    fixed: set[int] | None = None,
    pushing: bool = True,
    graph: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[list[int]]:
    """Fill undersized groups by chains of whole-item moves (or dissolve them); returns the groups
    (with `keep_empty`, index for index, a dissolved group left empty). Items in `fixed` stay put.
    With `pushing`, a short group may also merge into a neighbour that passes items on, and groups
    too big pass items on to their neighbours."""
    fixed = fixed or set()
    if compiled.ENABLED and not pushing and focus is None and not keep_empty:
        # Compiled (`compiled.chains_fill`: the same steps, each group's set replayed as CPython lays it
        # out, so that ties are broken as here); the code below is the Python reference.
        indptr, indices = graph if graph is not None else compiled.csr(adj)
        fx = np.zeros(len(adj), dtype=np.bool_)
        fx[list(fixed)] = True
        bounds = np.zeros(len(groups) + 1, dtype=np.int64)
        bounds[1:] = [len(g) for g in groups]
        flat, ends = compiled.chains_fill(
            np.fromiter(chain_.from_iterable(groups), dtype=np.int64, count=int(bounds.sum())),
            bounds.cumsum(), indptr, indices, *(np.asarray(v, dtype=np.float64) for v in (weights, xs, ys)),
            float(lo), float(hi), fx, max_depth, max_states,
        )  # fmt: skip
        members, ends = flat.tolist(), ends.tolist()
        return [members[a:b] for a, b in pairwise(ends)]
    sets = [set(g) for g in groups]
    owner: dict[int, int] = {m: gi for gi, g in enumerate(sets) for m in g}
    sizes = [sum(weights[m] for m in g) for g in sets]

    # Whether group h stays in one piece without item b, asked again and again by the searches below
    # (the same item is often an option from several members, and from several states): remembered
    # until the next move.
    whole_without: dict[tuple[int, int], bool] = {}

    def stays_whole(h: int, b: int) -> bool:
        known = whole_without.get((h, b))
        if known is None:
            known = whole_without[h, b] = _connected(sets[h] - {b}, adj)
        return known

    def move(b: int, src: int, dst: int) -> None:
        whole_without.clear()
        sets[src].discard(b)
        sets[dst].add(b)
        owner[b] = dst
        sizes[src] -= weights[b]
        sizes[dst] += weights[b]

    def chain(u: int) -> list[tuple[int, int, int]] | None:
        """Moves (item, from, to), receiver first, that put `u` in range and keep the others in range."""
        queue: deque[tuple[int, float, frozenset[int], list[tuple[int, int, int]]]] = deque()
        queue.append((u, sizes[u], frozenset((u,)), []))
        states = 0
        while queue and states < max_states:
            x, size_x, path, moves = queue.popleft()
            states += 1
            members_x = sets[x] - {mv[0] for mv in moves if mv[1] == x}
            n = len(members_x)
            cx, cy = sum(xs[m] for m in members_x) / n, sum(ys[m] for m in members_x) / n
            options = []
            for a in members_x:
                for b in adj[a]:
                    h = owner.get(b)
                    if h is None or h in path or b in fixed:
                        continue
                    nb = size_x + weights[b]
                    if not lo - EPS <= nb <= hi + EPS:
                        continue
                    options.append(((xs[b] - cx) ** 2 + (ys[b] - cy) ** 2, b, h))
            options.sort()
            for _, b, h in options:
                if not stays_whole(h, b):
                    continue
                rest = sizes[h] - weights[b]
                step = [*moves, (b, h, x)]
                if rest >= lo - EPS:
                    return step
                if len(step) < max_depth and rest > EPS:
                    queue.append((h, rest, path | {h}, step))
        return None

    def dissolve(u: int) -> bool:
        """Give every item of `u` to a neighbouring group with room, keeping what is left connected."""
        if sets[u] & fixed:
            return False
        left = set(sets[u])
        room: dict[int, float] = {}
        planned: dict[int, int] = {}
        progress = True
        while left and progress:
            progress = False
            for a in sorted(left, key=lambda m: -weights[m]):
                takers = {planned.get(b, owner.get(b, u)) for b in adj[a]} - {u}
                fits = [h for h in takers if room.setdefault(h, hi - sizes[h]) >= weights[a] - EPS]
                if not fits:
                    continue
                h = max(fits, key=lambda h: room[h])
                room[h] -= weights[a]
                planned[a] = h
                left.discard(a)
                progress = True
                break
        if left:
            return False
        for a, h in planned.items():
            move(a, u, h)
        return True

    Queue = deque[tuple[int, frozenset[int], float, frozenset[int], list[tuple[int, int, int]]]]

    def push(u: int) -> list[tuple[int, int, int]] | None:
        """Moves that merge `u` into a neighbour and let the merged group, now too big, pass whole
        items on to its neighbours (and they to theirs) until every group on the chain is in range."""
        if sets[u] & fixed:
            return None
        # (group taking the surplus, its members, size, groups on the chain, moves)
        queue: Queue = deque()
        nbs = {owner[b] for a in sets[u] for b in adj[a] if b in owner} - {u}
        for h in sorted(nbs, key=lambda h: sizes[h]):
            moves = [(m, u, h) for m in sorted(sets[u])]
            size = sizes[h] + sizes[u]
            if size <= hi + EPS:
                if size >= lo - EPS:
                    return moves
                continue
            queue.append((h, frozenset(sets[h] | sets[u]), size, frozenset((u, h)), moves))
        return pass_on(queue, len(sets[u]))

    def pass_on(queue: Queue, merged: int) -> list[tuple[int, int, int]] | None:
        """Breadth first from groups too big: each passes a whole item to a neighbour (which may pass
        one on in turn) until every group on the chain is in range; `merged` moves come free."""
        states = 0
        while queue and states < max_states:
            x, members_x, size_x, path, moves = queue.popleft()
            states += 1
            if len(moves) + 1 - merged > max_depth:  # every step from this state is too long
                continue
            options = []
            for a in members_x:
                if a in fixed:
                    continue
                after = size_x - weights[a]
                if after < lo - EPS:
                    continue
                for b in adj[a]:
                    h = owner.get(b)
                    if h is None or h in path:
                        continue
                    options.append((after > hi + EPS, sizes[h] + weights[a] > hi + EPS, -weights[a], a, h))
            options.sort()
            seen: set[tuple[int, int]] = set()
            # Whether `x` stays in one piece without `a`: the same for every `h`, so asked once per `a`,
            # and only for a move the sizes allow (the cheap tests first; the outcome is the same).
            whole_without: dict[int, bool] = {}
            for still_over, _over, _w, a, h in options:
                if (a, h) in seen:
                    continue
                seen.add((a, h))
                size_h = sizes[h] + weights[a]
                if still_over:
                    if not lo - EPS <= size_h <= hi + EPS:
                        continue
                elif size_h < lo - EPS:
                    continue
                if a not in whole_without:
                    whole_without[a] = _connected(set(members_x) - {a}, adj)
                if not whole_without[a]:
                    continue
                step = [*moves, (a, x, h)]  # applied in order: an item of `u` may move on again
                if still_over:  # the group still has too much: it passes on another item next
                    queue.append((x, members_x - {a}, size_x - weights[a], path | {h}, step))
                    continue
                if size_h <= hi + EPS:
                    return step
                queue.append((h, frozenset(sets[h] | {a}), size_h, path | {h}, step))
        return None

    todo = [gi for gi in range(len(sets)) if sizes[gi] < lo - EPS and (focus is None or gi in focus)]
    for u in todo:
        if not sets[u] or sizes[u] >= lo - EPS:
            continue
        found = chain(u) or (push(u) if pushing else None)
        if found is not None:
            for b, h, x in found:
                move(b, h, x)
        else:
            dissolve(u)
    if pushing:  # groups too big pass whole items on
        over = [gi for gi in range(len(sets)) if sizes[gi] > hi + EPS and (focus is None or gi in focus)]
        for x in over:
            if sizes[x] <= hi + EPS:
                continue
            start: Queue = deque([(x, frozenset(sets[x]), sizes[x], frozenset((x,)), [])])
            found = pass_on(start, 0)
            for b, h, y in found or []:
                move(b, h, y)
    return [sorted(g) for g in sets if g or keep_empty]


__all__ = ["fill_by_chains"]
