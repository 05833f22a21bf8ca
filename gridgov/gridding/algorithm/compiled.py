"""Compiled kernels of the partition (numba), on array neighbour lists.

The neighbour graph is held as CSR arrays: the neighbours of element `i` are
`indices[indptr[i]:indptr[i + 1]]`. Every kernel reproduces its Python reference step for step
(same orders, same float arithmetic), so that plans do not change; `tests/gridding/test_compiled.py`
checks them against each other on random graphs.

Compiled code is cached on disk (`cache=True`). numba reads `NUMBA_CACHE_DIR` when it is first
imported; the project's entry points point it under `var/` (`cache_dir`); without it numba caches next
to this file, or in the user's cache directory when the source tree is read-only.
"""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Sequence
from itertools import chain

import numba
import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros


def _jit(func):  # type: ignore[no-untyped-def]
    """`numba.njit`, cached on disk where numba finds a writable place (else compiled on first call)."""
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # "cannot cache function …: no locator available" (a read-only install)
        return numba.njit(nogil=True)(func)


ENABLED = os.environ.get("GRIDGOV_COMPILED", "1") != "0"  # 0: the Python reference (tests compare)
MAX_MEMBERS = 62  # the exact search's bitmasks are int64


def csr(adj: Sequence[Collection[int]]) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour lists `adj` as CSR arrays (indptr int64, indices int64); rows keep their order."""
    lens = np.fromiter(map(len, adj), dtype=np.int64, count=len(adj))
    indptr = np.zeros(len(adj) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    indices = np.fromiter(chain.from_iterable(adj), dtype=np.int64, count=int(indptr[-1]))
    return indptr, indices


# --- the exact re-cut (`grow._cover` and the region set-up of `grow.mend.recut`) ---------------------


@_jit
def _options(v, nbr, w, px, py, pxx, pyy, lo_e, hi_e, prefer, penalty, o_cost, o_mask, o_total, si, sf):
    """Options of first element `v` (connected groups in range whose lowest index is `v`), sorted by
    (cost, mask), written to row `v` of the buffers; returns how many. ESU enumeration as
    `grow._cover.options`; `si`, `sf` (int and float columns, 600·(m + 1) + 1 rows) are the stack.
    (Every array is indexed whole, never through a view: each view costs two atomic reference counts,
    a fifth of the re-cuts' time when this ran on row views.)"""
    above = ~((np.int64(1) << (v + 1)) - 1)
    si[0, 0] = np.int64(1) << v  # the state's mask
    si[1, 0] = nbr[v] & above  # its extension
    sf[0, 0] = w[v]  # its total
    si[2, 0] = 1  # its size
    sf[1, 0] = px[v]  # its sums of x, y, x² + y²
    sf[2, 0] = py[v]
    sf[3, 0] = pxx[v] + pyy[v]
    si[3, 0] = nbr[v] | (np.int64(1) << v)  # what it reaches
    top = 1
    produced = 0
    k = 0
    while top > 0 and produced < 600:
        top -= 1
        mask = si[0, top]
        ext = si[1, top]
        total = sf[0, top]
        n = si[2, top]
        sx = sf[1, top]
        sy = sf[2, top]
        sq = sf[3, top]
        reach = si[3, top]
        produced += 1
        if total >= lo_e:
            spread = sq - (sx * sx + sy * sy) / n
            extra = penalty
            for q in range(len(prefer)):
                if prefer[q] == mask:
                    extra = 0.0
                    break
            o_cost[v, k] = spread + extra
            o_mask[v, k] = mask
            o_total[v, k] = total
            k += 1
        while ext:
            low = ext & -ext
            ext ^= low
            j = trailing_zeros(low)
            tj = total + w[j]
            if tj > hi_e:
                continue
            si[0, top] = mask | low
            si[1, top] = ext | (nbr[j] & ~reach & above)
            sf[0, top] = tj
            si[2, top] = n + 1
            sf[1, top] = sx + px[j]
            sf[2, top] = sy + py[j]
            sf[3, top] = sq + pxx[j] + pyy[j]
            si[3, top] = reach | nbr[j] | low
            top += 1
    # Sort by (cost, mask) (masks are distinct, so this is the order of Python's tuple sort): insertion
    # sort, the lists are short.
    for a in range(1, k):
        c, mk, t = o_cost[v, a], o_mask[v, a], o_total[v, a]
        b = a - 1
        while b >= 0 and (o_cost[v, b] > c or (o_cost[v, b] == c and o_mask[v, b] > mk)):
            o_cost[v, b + 1], o_mask[v, b + 1], o_total[v, b + 1] = o_cost[v, b], o_mask[v, b], o_total[v, b]
            b -= 1
        o_cost[v, b + 1], o_mask[v, b + 1], o_total[v, b + 1] = c, mk, t
    return k


@_jit
def workspace(m):
    """Scratch arrays for `cover` and `region_cut` on up to `m` members: options per first element (cost,
    mask, total: at most 600 each), the enumeration's stack (int and float columns), and rows of m + 2
    for the search's frames and the region's arrays (int, float); and the search's set of dead states
    (`_dead_table`: keys and the generation that filled each slot, the generation last used)."""
    return (
        np.empty((m, 600), np.float64),
        np.empty((m, 600), np.int64),
        np.empty((m, 600), np.float64),
        np.empty((4, 600 * (m + 1) + 1), np.int64),
        np.empty((4, 600 * (m + 1) + 1), np.float64),
        np.empty((10, m + 2), np.int64),
        np.empty((7, m + 2), np.float64),
        _dead_table(_DEAD_SLOTS),
    )


# Slots of `cover`'s set of dead states, at first: kept at most a third full, a search that finds more
# grows its own (`_dead_grown`). Small, as most searches end after a few dozen states: the table is zeroed
# for every re-cut of a partition (64k slots cost the city's 2,440 partitions 0.1 s).
_DEAD_SLOTS = 1 << 10


@_jit
def _dead_table(slots):
    """An empty set of int64 keys in open addressing (`slots` a power of two): keys, the generation that
    filled each slot (0: never), and one cell holding the generation in use. Emptied in O(1) by moving
    to the next generation (`cover` does at each call), so one table serves every search of a run."""
    return np.empty(slots, np.int64), np.zeros(slots, np.int64), np.zeros(1, np.int64)


@_jit
def _dead_grown(keys, gens, gen):
    """The keys of generation `gen` in a table four times as large (of generation `gen` too)."""
    new_keys, new_gens, _ = _dead_table(4 * len(keys))
    for s in range(len(keys)):
        if gens[s] == gen:
            t = _dead_slot(new_keys, new_gens, gen, keys[s])
            new_keys[t] = keys[s]
            new_gens[t] = gen
    return new_keys, new_gens


@_jit
def _dead_slot(keys, gens, gen, key):
    """The slot of `key` in the table (its own, or the empty slot where it would go): a multiplicative
    hash (Fibonacci), then linear probes."""
    mask = len(keys) - 1
    h = (np.uint64(key) * np.uint64(11400714819323198485)) >> np.uint64(32)
    slot = np.int64(h) & mask
    while gens[slot] == gen and keys[slot] != key:
        slot = (slot + 1) & mask
    return slot


@_jit
def cover(nbr, w, px, py, lo, hi, budget, prefer, penalty, ws):
    """`grow._cover` on int64 bitmasks (at most 62 members): the chosen groups' masks, or an empty
    array when there is no cover; the search is the same, made iterative. `ws`: `workspace(≥ m)`."""
    m = len(w)
    o_cost, o_mask, o_total, si, sf, wi, wf, dead_set = ws
    pxx = wf[0][:m]
    pyy = wf[1][:m]
    for i in range(m):
        pxx[i] = px[i] * px[i]
        pyy[i] = py[i] * py[i]
    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    o_n = wi[0][:m]
    o_n[:] = -1
    full = (np.int64(1) << m) - 1
    best_cost = np.inf
    best = wi[1]
    n_best = -1
    chosen = wi[2]
    steps = 1
    # States known to lead to no cover (a set: `_dead_slot`), emptied by moving to a new generation.
    d_keys, d_gens, d_gen = dead_set
    d_gen[0] += 1
    gen = d_gen[0]
    n_dead = 0
    left0 = 0.0
    for i in range(m):
        left0 += w[i]
    if m == 0 or math.ceil(left0 / hi - 1e-9) * lo > left0 + 1e-9:
        return best[:0]
    # Frames of the recursive search: state covered, cost, left; the element covered next; the option.
    f_cov = wi[3]
    f_cost = wf[2]
    f_left = wf[3]
    f_v = wi[4]
    f_i = wi[5]
    d = 0
    f_cov[0] = 0
    f_cost[0] = 0.0
    f_left[0] = left0
    free = full
    v = 0
    while (free >> v) & 1 == 0:
        v += 1
    f_v[0] = v
    f_i[0] = 0
    out_of_budget = False
    while d >= 0:
        v = f_v[d]
        if o_n[v] < 0:
            o_n[v] = _options(
                v,
                nbr,
                w,
                px,
                py,
                pxx,
                pyy,
                lo_e,
                hi_e,
                prefer,
                penalty,
                o_cost,
                o_mask,
                o_total,
                si,
                sf,
            )
        covered = f_cov[d]
        descended = False
        while f_i[d] < o_n[v]:
            i = f_i[d]
            f_i[d] = i + 1
            mask = o_mask[v, i]
            if mask & covered:
                continue
            steps += 1
            if steps > budget:
                out_of_budget = True
                break
            total = f_cost[d] + o_cost[v, i]
            if total >= best_cost:
                continue
            now = covered | mask
            if now == full:
                best_cost = total
                chosen[d] = mask
                n_best = d + 1
                best[: d + 1] = chosen[: d + 1]
                continue
            if d_gens[_dead_slot(d_keys, d_gens, gen, now)] == gen:
                continue
            rest = f_left[d] - o_total[v, i]
            if math.ceil(rest / hi - 1e-9) * lo > rest + 1e-9:
                continue
            chosen[d] = mask
            free = full ^ now
            nv = 0
            while (free >> nv) & 1 == 0:
                nv += 1
            f_cov[d + 1] = now
            f_cost[d + 1] = total
            f_left[d + 1] = rest
            f_v[d + 1] = nv
            f_i[d + 1] = 0
            d += 1
            descended = True
            break
        if out_of_budget:
            break
        if descended:
            continue
        if n_best < 0:
            if 3 * (n_dead + 1) > len(d_keys):
                d_keys, d_gens = _dead_grown(d_keys, d_gens, gen)
            slot = _dead_slot(d_keys, d_gens, gen, covered)
            d_keys[slot] = covered
            d_gens[slot] = gen
            n_dead += 1
        d -= 1
    if n_best < 0:
        return best[:0]
    return best[:n_best].copy()


@_jit
def region_cut(
    members, indptr, indices, weights, xs, ys, lo, hi, prefer_groups, prefer_ptr, local, nonneg, ws
):
    """`grow.mend`'s re-cut of one region: `members` sorted west to east, their neighbour bitmasks, the
    preferred groups (`prefer_groups[prefer_ptr[k]:prefer_ptr[k + 1]]`) as masks, the stranded-member
    shortcut (with `nonneg`), then the exact search. Returns each member's group (-1 for all when
    there is no cut) in the west-to-east order, and that order. `local` (one entry per element, all -1)
    is scratch space, left as it was found; `ws`: `workspace(≥ len(members))`, which also holds the
    arrays returned (valid until the next call with it)."""
    m = len(members)
    # Python's sorted(members, key=(x, y)): stable, lexicographic (insertion sort: regions are small).
    wi, wf = ws[5], ws[6]
    order = wi[9][:m]
    order[:] = members
    for a in range(1, m):
        g = order[a]
        gx, gy = xs[g], ys[g]
        b = a - 1
        while b >= 0 and (xs[order[b]] > gx or (xs[order[b]] == gx and ys[order[b]] > gy)):
            order[b + 1] = order[b]
            b -= 1
        order[b + 1] = g
    label = wi[7][:m]
    label[:] = -1
    for i in range(m):
        local[order[i]] = i
    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    lost = False
    if nonneg:
        for u in members:
            wu = weights[u]
            if wu >= lo_e:
                continue
            fits = False
            for p in range(indptr[u], indptr[u + 1]):
                j = indices[p]
                if local[j] >= 0 and wu + weights[j] <= hi_e:
                    fits = True
                    break
            if not fits:
                for x in members:
                    if x != u and wu + weights[x] <= hi_e:
                        for p in range(indptr[x], indptr[x + 1]):
                            if indices[p] == u:
                                fits = True
                                break
                    if fits:
                        break
            if not fits:
                lost = True
                break
    masks = np.empty(0, np.int64)
    if not lost:
        nbr = wi[6][:m]
        for i in range(m):
            g = order[i]
            bits = np.int64(0)
            for p in range(indptr[g], indptr[g + 1]):
                q = local[indices[p]]
                if q >= 0:
                    bits |= np.int64(1) << q
            nbr[i] = bits
        prefer = wi[8][: len(prefer_ptr) - 1]
        for k in range(len(prefer_ptr) - 1):
            mk = np.int64(0)
            for p in range(prefer_ptr[k], prefer_ptr[k + 1]):
                mk |= np.int64(1) << local[prefer_groups[p]]
            prefer[k] = mk
        w_o, x_o, y_o = wf[4][:m], wf[5][:m], wf[6][:m]
        for i in range(m):
            w_o[i] = weights[order[i]]
            x_o[i] = xs[order[i]]
            y_o[i] = ys[order[i]]
        masks = cover(nbr, w_o, x_o, y_o, lo, hi, 20000, prefer, 1e12, ws)
    for i in range(m):
        local[order[i]] = -1
    for k in range(len(masks)):
        for i in range(m):
            if (masks[k] >> i) & 1:
                label[i] = k
    return order, label, len(masks)


# --- growing groups in sequence order (`grow.grow`) -----------------------------------------------


@_jit
def grow_groups(order, indptr, indices, weights, xs, ys, lo, hi, fixed):
    """`grow.grow` on CSR arrays: every element's group as (members in the order added, group starts)."""
    n = len(indptr) - 1
    taken = fixed.copy()
    free_degree = np.empty(n, np.int64)
    for c in range(n):
        free_degree[c] = indptr[c + 1] - indptr[c]
    # Reverse links: who has `x` among its neighbours (the graph itself when symmetric).
    rcount = np.zeros(n + 1, np.int64)
    for p in range(len(indices)):
        rcount[indices[p] + 1] += 1
    rptr = np.cumsum(rcount)
    rind = np.empty(len(indices), np.int64)
    fill = rptr[:-1].copy()
    for c in range(n):
        for p in range(indptr[c], indptr[c + 1]):
            b = indices[p]
            rind[fill[b]] = c
            fill[b] += 1
    for c in range(n):
        for p in range(indptr[c], indptr[c + 1]):
            if fixed[indices[p]]:
                free_degree[c] -= 1
    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    owned = np.zeros(n, np.bool_)
    members = np.empty(n, np.int64)
    starts = np.empty(n + 1, np.int64)
    ng = 0
    top = 0
    frontier = np.empty(n, np.int64)
    in_front = np.zeros(n, np.bool_)
    for seed in order:
        if owned[seed]:
            continue
        starts[ng] = top
        ng += 1
        members[top] = seed
        top += 1
        size = 1
        owned[seed] = True
        if not taken[seed]:
            taken[seed] = True
            for p in range(rptr[seed], rptr[seed + 1]):
                free_degree[rind[p]] -= 1
        if fixed[seed]:
            continue
        s = weights[seed]
        tx, ty = xs[seed], ys[seed]
        nf = 0
        for p in range(indptr[seed], indptr[seed + 1]):
            b = indices[p]
            if not taken[b] and not in_front[b]:
                in_front[b] = True
                frontier[nf] = b
                nf += 1
        while s < lo_e and nf > 0:
            sx = tx / size
            sy = ty / size
            best = -1
            best_fd = 0
            best_w = 0.0
            best_d = 0.0
            for q in range(nf):
                c = frontier[q]
                t = s + weights[c]
                if lo_e <= t <= hi_e:
                    d = (xs[c] - sx) ** 2 + (ys[c] - sy) ** 2
                    fd = free_degree[c]
                    if (
                        best < 0
                        or fd < best_fd
                        or (
                            fd == best_fd and (-weights[c] < best_w or (-weights[c] == best_w and d < best_d))
                        )
                    ):
                        best, best_fd, best_w, best_d = c, fd, -weights[c], d
            if best < 0:
                for q in range(nf):
                    c = frontier[q]
                    if s + weights[c] < lo_e:
                        d = (xs[c] - sx) ** 2 + (ys[c] - sy) ** 2
                        fd = 1 if free_degree[c] > 1 else 0
                        if best < 0 or fd < best_fd or (fd == best_fd and d < best_d):
                            best, best_fd, best_d = c, fd, d
                if best < 0:
                    break
            c = best
            members[top] = c
            top += 1
            size += 1
            owned[c] = True
            if not taken[c]:
                taken[c] = True
                for p in range(rptr[c], rptr[c + 1]):
                    free_degree[rind[p]] -= 1
            s += weights[c]
            tx += xs[c]
            ty += ys[c]
            # frontier.discard(c), keeping the others in the order they came
            k = 0
            for q in range(nf):
                if frontier[q] != c:
                    frontier[k] = frontier[q]
                    k += 1
            nf = k
            in_front[c] = False
            for p in range(indptr[c], indptr[c + 1]):
                b = indices[p]
                if not taken[b] and not in_front[b]:
                    in_front[b] = True
                    frontier[nf] = b
                    nf += 1
        for q in range(nf):
            in_front[frontier[q]] = False
    starts[ng] = top
    return members[:top], starts[: ng + 1]


# --- mending bad groups by exact re-cuts of their neighbourhoods (`grow.mend`) ---------------------


@_jit
def _grown(arr, need):
    """`arr`, or a copy at least twice as long (zeros after `arr`) when it holds fewer than `need`."""
    if need <= len(arr):
        return arr
    out = np.zeros(max(need, 2 * len(arr)), arr.dtype)
    out[: len(arr)] = arr
    return out


@_jit
def _bad(pool, start, size, indptr, indices, weights, lo_e, hi_e, mark):
    """`grow.mend.bad`: the group's sum out of range, or the group in pieces (`mark`: scratch, all 0)."""
    s = 0.0
    for p in range(start, start + size):
        s += weights[pool[p]]
    if s < lo_e or s > hi_e:
        return True
    if size <= 1:
        return False
    for p in range(start, start + size):
        mark[pool[p]] = 1
    # Depth first from the first member; members reached are marked 2.
    stack = np.empty(size, np.int64)
    stack[0] = pool[start]
    mark[pool[start]] = 2
    top, reached = 1, 1
    while top > 0:
        top -= 1
        a = stack[top]
        for q in range(indptr[a], indptr[a + 1]):
            b = indices[q]
            if mark[b] == 1:
                mark[b] = 2
                reached += 1
                stack[top] = b
                top += 1
    for p in range(start, start + size):
        mark[pool[p]] = 0
    return reached < size


@_jit
def _feasible(total, lo, hi):
    """`splitting.feasible_total`."""
    if total <= 0:
        return True
    return math.ceil(total / hi - 1e-9) * lo <= total + 1e-9


@_jit
def _region_hash(sorted_members):
    h = np.uint64(1469598103934665603)
    for m in sorted_members:
        h = (h ^ np.uint64(m)) * np.uint64(1099511628211)
        h ^= h >> np.uint64(29)
    return np.int64(h >> np.uint64(1))


@_jit
def _map_slot(keys, vals, key):
    """The slot of `key` in an int64 → int64 map in open addressing (`vals` -1: an empty slot): its own,
    or the empty slot where it would go (the hash of `_dead_slot`)."""
    mask = len(keys) - 1
    h = (np.uint64(key) * np.uint64(11400714819323198485)) >> np.uint64(32)
    slot = np.int64(h) & mask
    while vals[slot] >= 0 and keys[slot] != key:
        slot = (slot + 1) & mask
    return slot


@_jit
def _map_room(keys, vals, used):
    """The map, in a table twice as large when one more entry would fill more than half of it."""
    if 2 * (used + 1) <= len(keys):
        return keys, vals
    new_keys = np.empty(2 * len(keys), np.int64)
    new_vals = np.full(2 * len(keys), -1, np.int64)
    for s in range(len(keys)):
        if vals[s] >= 0:
            t = _map_slot(new_keys, new_vals, keys[s])
            new_keys[t] = keys[s]
            new_vals[t] = vals[s]
    return new_keys, new_vals


@_jit
def mend_groups(
    members, starts, indptr, indices, weights, xs, ys, lo, hi, fixed, max_region, focus, use_focus
):
    """`grow.mend` on CSR arrays, groups given as `members[starts[k]:starts[k + 1]]`; returns the mended
    groups the same way. Rounds, rings, tries and the regions known to fail are those of `mend`."""
    n = len(indptr) - 1
    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    nonneg = True
    for i in range(n):
        if weights[i] < 0:
            nonneg = False
    any_fixed = False
    for i in range(n):
        if fixed[i]:
            any_fixed = True
    ng = len(starts) - 1
    pool = members.copy()
    g_start = starts[:-1].copy()
    g_len = starts[1:] - starts[:-1]
    top = len(pool)
    owner = np.full(n, -1, np.int64)
    mark = np.zeros(n, np.int64)
    local = np.full(n, -1, np.int64)
    # Regions known to fail: their key's hash → their index in f_start/f_len (members in f_pool).
    fk = np.empty(256, np.int64)
    fv = np.full(256, -1, np.int64)
    f_pool = np.empty(64, np.int64)
    f_start = np.empty(16, np.int64)
    f_len = np.empty(16, np.int64)
    n_failed = 0
    still = np.zeros(ng, np.bool_)  # after a round: the groups it left bad
    first_round = True
    region = np.empty(max_region + 2, np.int64)
    ws = workspace(max_region)
    seq = np.empty(256, np.int64)
    reg_b = np.empty(max_region + 1, np.int64)
    key_b = np.empty(max_region + 1, np.int64)
    ptr_b = np.empty(max_region + 2, np.int64)
    cand = np.empty(64, np.int64)
    dist = np.empty(64, np.float64)
    tries = np.empty(64, np.int64)
    in_region = np.zeros(ng, np.bool_)
    ring = np.empty(ng, np.int64)
    for _round in range(3):
        for g in range(ng):
            for p in range(g_start[g], g_start[g] + g_len[g]):
                owner[pool[p]] = g
        todo = np.empty(ng, np.int64)
        nt = 0
        for g in range(ng):
            if first_round:
                wanted = g_len[g] > 0 and (not use_focus or focus[g])
                if wanted and _bad(pool, g_start[g], g_len[g], indptr, indices, weights, lo_e, hi_e, mark):
                    todo[nt] = g
                    nt += 1
            elif still[g]:
                todo[nt] = g
                nt += 1
        first_round = False
        if nt == 0:
            break
        for t in range(nt):
            gi = todo[t]
            if g_len[gi] == 0:
                continue
            if not _bad(pool, g_start[gi], g_len[gi], indptr, indices, weights, lo_e, hi_e, mark):
                continue
            region[0] = gi
            nr = 1
            cx, cy = 0.0, 0.0
            for p in range(g_start[gi], g_start[gi] + g_len[gi]):
                cx += xs[pool[p]]
                cy += ys[pool[p]]
            cx /= g_len[gi]
            cy /= g_len[gi]
            size = g_len[gi]
            for radius in range(3):
                # The ring: groups next to the region (`{owner[b] for h in region for a in out[h] for b in
                # adj[a]} - set(region)`, in CPython's set order), nearest (by first member) first.
                if len(in_region) < ng:
                    in_region = _grown(in_region, ng)
                ns = 0
                for r in range(nr):
                    h = region[r]
                    for p in range(g_start[h], g_start[h] + g_len[h]):
                        a = pool[p]
                        if ns + indptr[a + 1] - indptr[a] > len(seq):
                            seq = _grown(seq, ns + indptr[a + 1] - indptr[a])
                        for q in range(indptr[a], indptr[a + 1]):
                            seq[ns] = owner[indices[q]]
                            ns += 1
                table = set_table(seq, ns)
                used = 0
                for q in range(len(table)):
                    if table[q] >= 0:
                        used += 1
                if len(cand) < used:
                    cand = _grown(cand, used)
                    dist = _grown(dist, used)
                    ring = _grown(ring, used)
                if (used >> 2) > nr:  # CPython copies the set, then discards the region's groups
                    nring = _copy_order(table, 0, len(table), used, used, ring)
                else:  # or adds the others to a new set
                    nring = 0
                    for q in range(len(table)):
                        if table[q] >= 0:
                            ring[nring] = table[q]
                            nring += 1
                for r in range(nr):
                    in_region[region[r]] = True
                k = 0
                for q in range(nring):
                    if not in_region[ring[q]]:
                        ring[k] = ring[q]
                        k += 1
                nring = k
                for r in range(nr):
                    in_region[region[r]] = False
                if (used >> 2) <= nr:
                    rebuilt = set_table(ring, nring)
                    nring = 0
                    for q in range(len(rebuilt)):
                        if rebuilt[q] >= 0:
                            ring[nring] = rebuilt[q]
                            nring += 1
                nc = 0
                for r in range(nring):
                    h = ring[r]
                    ok = True
                    if any_fixed:
                        for p in range(g_start[h], g_start[h] + g_len[h]):
                            if fixed[pool[p]]:
                                ok = False
                                break
                    if ok:
                        f = pool[g_start[h]]
                        d = (xs[f] - cx) ** 2 + (ys[f] - cy) ** 2
                        q = nc - 1  # (a stable sort by distance)
                        while q >= 0 and dist[q] > d:
                            cand[q + 1] = cand[q]
                            dist[q + 1] = dist[q]
                            q -= 1
                        cand[q + 1] = h
                        dist[q + 1] = d
                        nc += 1
                ring_sorted = cand[:nc]
                if len(tries) < nc:  # each try: the region's first k groups
                    tries = _grown(tries, nc)
                ntries = 0
                for h in ring_sorted:
                    if size + g_len[h] > max_region:
                        continue
                    region[nr] = h
                    nr += 1
                    size += g_len[h]
                    tries[ntries] = nr
                    ntries += 1
                if radius > 0:  # every other step on wider rings, and the whole ring
                    k = 0
                    for r in range(1, ntries, 2):
                        tries[k] = tries[r]
                        k += 1
                    if ntries % 2 == 1:
                        tries[k] = tries[ntries - 1]
                        k += 1
                    ntries = k
                done = False
                for r in range(ntries):
                    nk = tries[r]
                    m = 0
                    for a in range(nk):
                        m += g_len[region[a]]
                    reg = reg_b[:m]
                    ptr = ptr_b[: nk + 1]
                    m = 0
                    total = 0.0
                    for a in range(nk):
                        h = region[a]
                        ptr[a] = m
                        for p in range(g_start[h], g_start[h] + g_len[h]):
                            reg[m] = pool[p]
                            total += weights[pool[p]]
                            m += 1
                    ptr[nk] = m
                    key = key_b[:m]
                    for a in range(m):  # (insertion sort: regions are small)
                        y = reg[a]
                        q = a - 1
                        while q >= 0 and key[q] > y:
                            key[q + 1] = key[q]
                            q -= 1
                        key[q + 1] = y
                    hk = _region_hash(key)
                    f_slot = _map_slot(fk, fv, hk)
                    f = fv[f_slot]
                    if f >= 0 and f_len[f] == m:
                        same = True
                        for a in range(m):
                            if f_pool[f_start[f] + a] != key[a]:
                                same = False
                                break
                        if same:
                            continue
                    if not _feasible(total, lo, hi):
                        continue
                    order, label, kk = region_cut(
                        reg, indptr, indices, weights, xs, ys, lo, hi, reg, ptr, local, nonneg, ws
                    )
                    if kk == 0:
                        if f < 0:
                            if n_failed + 1 > len(f_start):
                                f_start = _grown(f_start, n_failed + 1)
                                f_len = _grown(f_len, n_failed + 1)
                            base = 0 if n_failed == 0 else f_start[n_failed - 1] + f_len[n_failed - 1]
                            if base + m > len(f_pool):
                                f_pool = _grown(f_pool, base + m)
                            f_pool[base : base + m] = key
                            f_start[n_failed] = base
                            f_len[n_failed] = m
                            if 2 * (n_failed + 1) > len(fk):
                                fk, fv = _map_room(fk, fv, n_failed)
                                f_slot = _map_slot(fk, fv, hk)
                            fk[f_slot] = hk
                            fv[f_slot] = n_failed
                            n_failed += 1
                        continue
                    for a in range(nk):
                        g_len[region[a]] = 0
                    pool = _grown(pool, top + m)
                    g_start = _grown(g_start, ng + kk)
                    g_len = _grown(g_len, ng + kk)
                    still = _grown(still, ng + kk)
                    for c in range(kk):
                        g_start[ng] = top
                        cnt = 0
                        for i in range(m):
                            if label[i] == c:
                                pool[top] = order[i]
                                owner[order[i]] = ng
                                top += 1
                                cnt += 1
                        g_len[ng] = cnt
                        ng += 1
                    done = True
                    break
                if done or ntries == 0:
                    break
        # The groups this round left bad, then the emptied ones dropped (indices shift down).
        is_still = np.zeros(ng, np.bool_)
        for t in range(nt):
            gi = todo[t]
            if g_len[gi] > 0 and _bad(
                pool, g_start[gi], g_len[gi], indptr, indices, weights, lo_e, hi_e, mark
            ):
                is_still[gi] = True
        k = 0
        for g in range(ng):
            if g_len[g] > 0:
                g_start[k] = g_start[g]
                g_len[k] = g_len[g]
                still[k] = is_still[g]
                k += 1
        ng = k
    out = np.empty(top, np.int64)
    bounds = np.empty(ng + 1, np.int64)
    k = 0
    for g in range(ng):
        bounds[g] = k
        out[k : k + g_len[g]] = pool[g_start[g] : g_start[g] + g_len[g]]
        k += g_len[g]
    bounds[ng] = k
    return out[:k], bounds


# --- contiguity of every group at once (`engine.check`) ---------------------------------------------


@_jit
def groups_connected(label, n_groups, indptr, indices):
    """Whether each group's members (`label[i]` is the group of element i) form one piece in the graph
    (`repair.connected` group by group; an empty group counts as one piece)."""
    n = len(label)
    size = np.zeros(n_groups, np.int64)
    first = np.full(n_groups, -1, np.int64)
    for i in range(n):
        g = label[i]
        size[g] += 1
        if first[g] < 0:
            first[g] = i
    seen = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    out = np.ones(n_groups, np.bool_)
    for g in range(n_groups):
        if size[g] <= 1:
            continue
        stack[0] = first[g]
        seen[first[g]] = True
        top, reached = 1, 1
        while top > 0:
            top -= 1
            a = stack[top]
            for p in range(indptr[a], indptr[a + 1]):
                b = indices[p]
                if label[b] == g and not seen[b]:
                    seen[b] = True
                    reached += 1
                    stack[top] = b
                    top += 1
        out[g] = reached == size[g]
    return out


@_jit
def _widest(indptr):
    top = 0
    for i in range(len(indptr) - 1):
        top = max(top, indptr[i + 1] - indptr[i])
    return top


@_jit
def area_graph(label, n_groups, indptr, indices):
    """The groups' neighbour sets as `engine.group_areas` builds them (for each element `i` in turn and
    each neighbour `j` in increasing order, `sets[label[i]].add(label[j])` when the two differ), as CSR
    arrays whose rows keep the sets' iteration order (laid out as CPython does, `set_table`)."""
    n = len(label)
    start = np.zeros(n_groups + 1, np.int64)
    for i in range(n):
        a = label[i]
        for p in range(indptr[i], indptr[i + 1]):
            if label[indices[p]] != a:
                start[a + 1] += 1
    for a in range(n_groups):
        start[a + 1] += start[a]
    fill = start[:-1].copy()
    seq = np.empty(start[n_groups], np.int64)
    row = np.empty(max(1, _widest(indptr)), np.int64)
    for i in range(n):
        a = label[i]
        k = 0
        for p in range(indptr[i], indptr[i + 1]):  # (the row sorted: an insertion sort, rows are short)
            v = indices[p]
            q = k
            while q > 0 and row[q - 1] > v:
                row[q] = row[q - 1]
                q -= 1
            row[q] = v
            k += 1
        for q in range(k):
            b = label[row[q]]
            if b != a:
                seq[fill[a]] = b
                fill[a] += 1
    out_ptr = np.zeros(n_groups + 1, np.int64)
    out = np.empty(start[n_groups], np.int64)
    k = 0
    for a in range(n_groups):
        if start[a + 1] > start[a]:
            table = set_table(seq[start[a] : start[a + 1]], start[a + 1] - start[a])
            for key in table:
                if key >= 0:
                    out[k] = key
                    k += 1
        out_ptr[a + 1] = k
    return out_ptr, out[:k]


def warm() -> None:
    """Compile every kernel (or load it from the cache) on a tiny problem: `scripts/bootstrap.sh` runs
    this after installing, so that the first gridding of a fresh install does not wait ~15 s."""
    adj = [{1, 2}, {0, 3}, {0, 3}, {1, 2}]
    indptr, indices = csr(adj)
    w = np.array([9.0, 8.0, 7.0, 9.0])
    x = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([0.0, 0.0, 1.0, 1.0])
    none = np.zeros(4, dtype=np.bool_)
    members, starts = grow_groups(np.arange(4, dtype=np.int64), indptr, indices, w, x, y, 15.0, 20.0, none)
    members, starts = repair_groups(members, starts, indptr, indices, w, 15.0, 20.0, none, 6)
    members, starts = chains_fill(members, starts, indptr, indices, w, x, y, 15.0, 20.0, none, 5, 300)
    members, starts = mend_groups(
        members, starts, indptr, indices, w, x, y, 15.0, 20.0, none, 24, none[:0], False
    )
    groups_connected(np.array([0, 0, 1, 1], dtype=np.int64), 2, indptr, indices)
    area_graph(np.array([0, 0, 1, 1], dtype=np.int64), 2, indptr, indices)
    count = np.full(4, 2, dtype=np.int64)
    donor_candidates(members, starts, indptr, indices, w, count, 15.0)
    ng = len(starts) - 1
    donate_groups(
        members, starts, indptr, indices, w, x, y, ~none, count, none, np.arange(0, 8, 2, dtype=np.int64),
        np.ones(8), 15.0, 20.0, np.ones(ng, dtype=np.bool_),
    )  # fmt: skip
    label = np.zeros(4, dtype=np.int64)
    donation_links(indptr, indices, 4, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), label)


# --- CPython's set order, for the steps whose ties it breaks --------------------------------------
# `repair` iterates Python sets of element and group indices (non-negative ints): which member a group's
# components start from, which neighbour a short group merges into among equally good ones. To make the
# same choices, the kernels lay out those sets as CPython 3.11 does (open addressing, hash(i) = i, linear
# probes then perturbation, a resize to 4 × used when 3/5 full) and walk them in table order;
# `tests/gridding/test_compiled.py` checks the layout against real sets.

_LINEAR_PROBES = 9


@_jit
def _set_insert_clean(table, key):
    mask = len(table) - 1
    perturb = key
    i = key & mask
    while True:
        if table[i] < 0:
            table[i] = key
            return
        if i + _LINEAR_PROBES <= mask:
            for j in range(i + 1, i + 1 + _LINEAR_PROBES):
                if table[j] < 0:
                    table[j] = key
                    return
        perturb >>= 5
        i = (i * 5 + 1 + perturb) & mask


@_jit
def set_table(keys, k):
    """The hash table of a Python set built by adding `keys[:k]` in turn (duplicates ignored): key or -1
    per slot; iterating the set visits the keys in slot order."""
    table = np.full(8, -1, np.int64)
    fill = 0
    for t in range(k):
        key = keys[t]
        mask = len(table) - 1
        i = key & mask
        perturb = key
        slot = -1
        dup = False
        while True:
            probes = _LINEAR_PROBES if i + _LINEAR_PROBES <= mask else 0
            j = i
            while True:
                e = table[j]
                if e == -1:
                    slot = j
                    break
                if e == key:
                    dup = True
                    break
                if probes == 0:
                    break
                probes -= 1
                j += 1
            if dup or slot >= 0:
                break
            perturb >>= 5
            i = (i * 5 + 1 + perturb) & mask
        if dup:
            continue
        table[slot] = key
        fill += 1
        if fill * 5 >= mask * 3:
            used = fill  # (no deletions while building)
            minused = used * 4 if used <= 50000 else used * 2
            size = 8
            while size <= minused:
                size <<= 1
            new = np.full(size, -1, np.int64)
            for old in table:
                if old >= 0:
                    _set_insert_clean(new, old)
            table = new
    return table


# --- merging and trading between groups (`repair.repair`, without `take_first`) --------------------


@_jit
def _unlink(x, g, head, tail, nxt, prv, cnt):
    p, q = prv[x], nxt[x]
    if p >= 0:
        nxt[p] = q
    else:
        head[g] = q
    if q >= 0:
        prv[q] = p
    else:
        tail[g] = p
    cnt[g] -= 1


@_jit
def _append(x, g, head, tail, nxt, prv, cnt):
    prv[x] = tail[g]
    nxt[x] = -1
    if tail[g] >= 0:
        nxt[tail[g]] = x
    else:
        head[g] = x
    tail[g] = x
    cnt[g] += 1


@_jit
def _reach(start, h, drop, owner, indptr, indices, seen, stack):
    """How many members of group h (`owner`) but `drop` a flood fill from `start` reaches (marked in
    `seen`, which the caller clears)."""
    seen[start] = True
    stack[0] = start
    top, reached = 1, 1
    while top > 0:
        top -= 1
        a = stack[top]
        for p in range(indptr[a], indptr[a + 1]):
            b = indices[p]
            if owner[b] == h and b != drop and not seen[b]:
                seen[b] = True
                stack[top] = b
                top += 1
                reached += 1
    return reached


@_jit
def _whole_without(h, drop, head, nxt, cnt, owner, indptr, indices, seen, stack):
    """`repair._connected_without(set(group h), drop, adj)`: group h's other members in one piece."""
    if cnt[h] - 1 <= 1:
        return True
    start = head[h]
    if start == drop:
        start = nxt[start]
    reached = _reach(start, h, drop, owner, indptr, indices, seen, stack)
    x = head[h]
    while x >= 0:
        seen[x] = False
        x = nxt[x]
    return reached == cnt[h] - 1


@_jit
def repair_groups(members, starts, indptr, indices, weights, lo, hi, fixed, rounds):
    """`repair.repair` (without `take_first`) on CSR arrays whose rows keep the neighbour sets' order;
    groups as `members[starts[k]:starts[k + 1]]` in, and out. Sets are walked in CPython's order
    (`set_table`), so every tie is broken as in Python."""
    n = len(indptr) - 1
    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    mid = (lo + hi) / 2
    cap = n + len(starts)
    nxt = np.full(n, -1, np.int64)
    prv = np.full(n, -1, np.int64)
    head = np.full(cap, -1, np.int64)
    tail = np.full(cap, -1, np.int64)
    cnt = np.zeros(cap, np.int64)
    owner = np.full(n, -1, np.int64)
    sizes = np.zeros(cap, np.float64)
    inleft = np.zeros(n, np.bool_)
    pos = np.zeros(n, np.int64)
    comp = np.empty(n, np.int64)
    seen = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    buf = np.empty(n, np.int64)
    keys = np.empty(n, np.int64)
    ng = 0
    # Split groups into their components (`repair.components`: breadth first from `set.pop()`).
    for k in range(len(starts) - 1):
        s, e = starts[k], starts[k + 1]
        if e - s <= 1:
            for t in range(s, e):
                _append(members[t], ng, head, tail, nxt, prv, cnt)
            ng += 1
            continue
        table = set_table(members[s:e], e - s)
        mask = len(table) - 1
        left = 0
        for slot in range(len(table)):
            x = table[slot]
            if x >= 0:
                pos[x] = slot
                inleft[x] = True
                left += 1
        finger = 0
        while left > 0:
            i = finger & mask
            while table[i] < 0:
                i = (i + 1) & mask
            key = table[i]
            table[i] = -2
            finger = i + 1
            inleft[key] = False
            left -= 1
            comp[0] = key
            cl, q = 1, 0
            while q < cl:
                a = comp[q]
                for p in range(indptr[a], indptr[a + 1]):
                    b = indices[p]
                    if inleft[b]:
                        inleft[b] = False
                        table[pos[b]] = -2
                        left -= 1
                        comp[cl] = b
                        cl += 1
                q += 1
            for t in range(cl):
                _append(comp[t], ng, head, tail, nxt, prv, cnt)
            ng += 1
    bad = np.empty(cap, np.int64)
    for _round in range(rounds):
        for g in range(ng):
            s = 0.0
            x = head[g]
            while x >= 0:
                owner[x] = g
                s += weights[x]
                x = nxt[x]
            sizes[g] = s
        nb = 0
        for g in range(ng):
            if (sizes[g] < lo_e or sizes[g] > hi_e) and cnt[g] > 0:
                bad[nb] = g
                nb += 1
        if nb == 0:
            break
        changed = False
        for t in range(nb):
            gi = bad[t]
            if cnt[gi] == 0:
                continue
            m = 0
            x = head[gi]
            while x >= 0:
                buf[m] = x
                m += 1
                x = nxt[x]
            gtab = set_table(buf, m)  # g = set(out[gi])
            if sizes[gi] < lo_e:
                # 1. merge into a neighbour when the sum fits (the first best in the neighbours' set order)
                nk = 0
                for slot in range(len(gtab)):
                    a = gtab[slot]
                    if a < 0:
                        continue
                    for p in range(indptr[a], indptr[a + 1]):
                        o = owner[indices[p]]
                        if o >= 0 and o != gi:
                            keys[nk] = o
                            nk += 1
                ntab = set_table(keys, nk)
                best, best_key = -1, 0.0
                for slot in range(len(ntab)):
                    h = ntab[slot]
                    if h < 0 or sizes[h] + sizes[gi] > hi_e:
                        continue
                    pinned = False
                    x = head[h]
                    while x >= 0:
                        if fixed[x]:
                            pinned = True
                            break
                        x = nxt[x]
                    if pinned:
                        continue
                    key = abs(sizes[h] + sizes[gi] - mid)
                    if best < 0 or key < best_key:
                        best, best_key = h, key
                if best >= 0:
                    h = best
                    x = head[gi]
                    while x >= 0:
                        owner[x] = h
                        x = nxt[x]
                    if cnt[gi] > 0:
                        if tail[h] >= 0:
                            nxt[tail[h]] = head[gi]
                            prv[head[gi]] = tail[h]
                        else:
                            head[h] = head[gi]
                        tail[h] = tail[gi]
                        cnt[h] += cnt[gi]
                    sizes[h] += sizes[gi]
                    head[gi], tail[gi], cnt[gi], sizes[gi] = -1, -1, 0, 0.0
                    changed = True
                    continue
                # 2. take boundary elements from neighbours that can spare them (`repair._take`)
                for slot in range(len(gtab)):
                    a = gtab[slot]
                    if a < 0:
                        continue
                    for p in range(indptr[a], indptr[a + 1]):
                        b = indices[p]
                        h = owner[b]
                        if h < 0 or h == gi or fixed[b]:
                            continue
                        if (
                            sizes[h] - weights[b] >= lo_e
                            and sizes[gi] + weights[b] <= hi_e
                            and _whole_without(h, b, head, nxt, cnt, owner, indptr, indices, seen, stack)
                        ):
                            _unlink(b, h, head, tail, nxt, prv, cnt)
                            _append(b, gi, head, tail, nxt, prv, cnt)
                            sizes[h] -= weights[b]
                            sizes[gi] += weights[b]
                            owner[b] = gi
                            changed = True
                    if sizes[gi] >= lo_e:
                        break
            else:
                # Oversized: give boundary elements to neighbours with room, lightest first (a stable
                # sort of the set's order).
                m = 0
                for slot in range(len(gtab)):
                    if gtab[slot] >= 0:
                        buf[m] = gtab[slot]
                        m += 1
                for u in range(1, m):
                    y = buf[u]
                    v = u - 1
                    while v >= 0 and weights[buf[v]] > weights[y]:
                        buf[v + 1] = buf[v]
                        v -= 1
                    buf[v + 1] = y
                for u in range(m):
                    a = buf[u]
                    if fixed[a] or sizes[gi] <= hi_e:
                        continue
                    for p in range(indptr[a], indptr[a + 1]):
                        h = owner[indices[p]]
                        if h < 0 or h == gi:
                            continue
                        if sizes[h] + weights[a] <= hi_e and _whole_without(
                            gi, a, head, nxt, cnt, owner, indptr, indices, seen, stack
                        ):
                            _unlink(a, gi, head, tail, nxt, prv, cnt)
                            _append(a, h, head, tail, nxt, prv, cnt)
                            sizes[gi] -= weights[a]
                            sizes[h] += weights[a]
                            owner[a] = h
                            changed = True
                            break
        k = 0
        for g in range(ng):
            if cnt[g] > 0:
                head[k], tail[k], cnt[k] = head[g], tail[g], cnt[g]
                k += 1
        ng = k
        if not changed:
            break
    out = np.empty(n, np.int64)
    bounds = np.empty(ng + 1, np.int64)
    k = 0
    for g in range(ng):
        bounds[g] = k
        x = head[g]
        while x >= 0:
            out[k] = x
            k += 1
            x = nxt[x]
    bounds[ng] = k
    return out[:k], bounds


# --- whole-item chains (`chains.fill_by_chains` without pushing) ------------------------------------
# Its groups are Python sets that items leave and join: the kernel keeps one CPython table per group
# (slots in `pool[t_start[g]:t_start[g] + t_size[g]]`, -1 empty, -2 deleted) and replays what CPython
# does on `add` (the last deleted slot met before an empty one is reused; a resize to 4 × used when 3/5
# full), on `discard`, on a copy (`set(s)`: `set_merge` into an empty set) and on `s - other`.

_EMPTY, _DUMMY = -1, -2


@_jit
def _tab_clean(pool, start, size, key):
    """`set_insert_clean` into the table `pool[start:start + size]`."""
    mask = size - 1
    perturb = key
    i = key & mask
    while True:
        if pool[start + i] == _EMPTY:
            pool[start + i] = key
            return
        if i + _LINEAR_PROBES <= mask:
            for j in range(i + 1, i + 1 + _LINEAR_PROBES):
                if pool[start + j] == _EMPTY:
                    pool[start + j] = key
                    return
        perturb >>= 5
        i = (i * 5 + 1 + perturb) & mask


@_jit
def _pow2_above(minused):
    size = 8
    while size <= minused:
        size <<= 1
    return size


@_jit
def _copy_order(pool, start, size, fill, used, out):
    """The iteration order of `set(s)` for the set `s` in `pool[start:start + size]` (`fill` slots used
    or deleted, `used` live): written to `out`, returns how many."""
    new_size = _pow2_above(used * 2) if used * 5 >= 7 * 3 else 8
    k = 0
    if new_size == size and fill == used:
        for i in range(size):
            if pool[start + i] >= 0:
                out[k] = pool[start + i]
                k += 1
        return k
    table = np.full(new_size, _EMPTY, np.int64)
    for i in range(size):
        key = pool[start + i]
        if key >= 0:
            _tab_clean(table, 0, new_size, key)
    for i in range(new_size):
        if table[i] >= 0:
            out[k] = table[i]
            k += 1
    return k


@_jit
def _minus_order(pool, start, size, fill, used, drop, out):
    """The iteration order of `s - {drop}` (`drop` -1: `s - set()`), as `_copy_order`."""
    other = 0 if drop < 0 else 1
    k = 0
    if (used >> 2) > other:  # CPython copies, then discards
        n = _copy_order(pool, start, size, fill, used, out)
        for i in range(n):
            if out[i] != drop:
                out[k] = out[i]
                k += 1
        return k
    seq = np.empty(used, np.int64)
    for i in range(size):
        key = pool[start + i]
        if key >= 0 and key != drop:
            seq[k] = key
            k += 1
    table = set_table(seq, k)
    k = 0
    for i in range(len(table)):
        if table[i] >= 0:
            out[k] = table[i]
            k += 1
    return k


@_jit
def _tab_add(pool, top, g, key, t_start, t_size, t_fill, t_used):
    """`sets[g].add(key)` as CPython does it; returns the pool (grown when the table is resized) and its
    new end."""
    start, size = t_start[g], t_size[g]
    mask = size - 1
    i = key & mask
    perturb = key
    free = -1
    while True:
        probes = _LINEAR_PROBES if i + _LINEAR_PROBES <= mask else 0
        j = i
        while True:
            e = pool[start + j]
            if e == _EMPTY:
                if free >= 0:
                    pool[start + free] = key
                    t_used[g] += 1
                    return pool, top
                pool[start + j] = key
                t_fill[g] += 1
                t_used[g] += 1
                if t_fill[g] * 5 < mask * 3:
                    return pool, top
                used = t_used[g]
                new = _pow2_above(used * 4 if used <= 50000 else used * 2)
                pool = _grown(pool, top + new)
                pool[top : top + new] = _EMPTY
                for q in range(size):
                    old = pool[start + q]
                    if old >= 0:
                        _tab_clean(pool, top, new, old)
                t_start[g], t_size[g], t_fill[g] = top, new, used
                return pool, top + new
            if e == key:
                return pool, top
            if e == _DUMMY:
                free = j
            if probes == 0:
                break
            probes -= 1
            j += 1
        perturb >>= 5
        i = (i * 5 + 1 + perturb) & mask


@_jit
def _move(b, src, dst, pool, top, t_start, t_size, t_fill, t_used, owner, sizes, weights):
    """`fill_by_chains.move`: item b from group src to group dst."""
    for q in range(t_size[src]):
        if pool[t_start[src] + q] == b:
            pool[t_start[src] + q] = _DUMMY
            t_used[src] -= 1
            break
    pool, top = _tab_add(pool, top, dst, b, t_start, t_size, t_fill, t_used)
    owner[b] = dst
    sizes[src] -= weights[b]
    sizes[dst] += weights[b]
    return pool, top


@_jit
def chains_fill(members, starts, indptr, indices, weights, xs, ys, lo, hi, fixed, max_depth, max_states):
    """`chains.fill_by_chains(groups, …, pushing=False)` (no focus, not keep_empty) on CSR arrays whose
    rows keep the neighbour sets' order; groups in and out as `members[starts[k]:starts[k + 1]]` (out:
    each sorted, empty ones dropped)."""
    eps = 1e-9
    n = len(indptr) - 1
    ng = len(starts) - 1
    # One table per group, as `set(g)` builds it.
    t_start = np.zeros(ng, np.int64)
    t_size = np.zeros(ng, np.int64)
    t_fill = np.zeros(ng, np.int64)
    t_used = np.zeros(ng, np.int64)
    pool = np.empty(16 * ng + 16, np.int64)
    top = 0
    owner = np.full(n, -1, np.int64)
    sizes = np.zeros(ng, np.float64)
    for g in range(ng):
        table = set_table(members[starts[g] : starts[g + 1]], starts[g + 1] - starts[g])
        pool = _grown(pool, top + len(table))
        pool[top : top + len(table)] = table
        t_start[g], t_size[g] = top, len(table)
        top += len(table)
        c = 0
        s = 0.0
        for i in range(len(table)):
            key = table[i]
            if key >= 0:
                owner[key] = g
                s += weights[key]
                c += 1
        t_fill[g], t_used[g] = c, c
        sizes[g] = s
    buf = np.empty(n + 1, np.int64)
    seen = np.zeros(n, np.bool_)
    stack = np.empty(n + 1, np.int64)
    memo = numba.typed.Dict.empty(key_type=numba.int64, value_type=numba.boolean)
    # Breadth-first states of `chain`: group x, its size, parent state, the move (b, from x, to the
    # parent's x) that made it, depth (moves so far).
    cap = 1024
    s_x = np.empty(cap, np.int64)
    s_size = np.empty(cap, np.float64)
    s_parent = np.empty(cap, np.int64)
    s_b = np.empty(cap, np.int64)
    s_depth = np.empty(cap, np.int64)
    opt_d = np.empty(n + 1, np.float64)
    opt_b = np.empty(n + 1, np.int64)
    opt_h = np.empty(n + 1, np.int64)
    found_b = np.empty(max_depth + 1, np.int64)
    found_h = np.empty(max_depth + 1, np.int64)
    found_x = np.empty(max_depth + 1, np.int64)
    # dissolve's bookkeeping
    plan_of = np.full(n, -1, np.int64)
    planned = np.empty(n + 1, np.int64)
    room = np.zeros(ng, np.float64)
    has_room = np.zeros(ng, np.bool_)
    roomed = np.empty(ng, np.int64)
    todo = np.empty(ng, np.int64)
    nt = 0
    for g in range(ng):
        if sizes[g] < lo - eps:
            todo[nt] = g
            nt += 1
    for t in range(nt):
        u = todo[t]
        if t_used[u] == 0 or sizes[u] >= lo - eps:
            continue
        # --- chain(u) ---
        nf = -1  # moves found (-1: none)
        qh, qt = 0, 1
        s_x[0], s_size[0], s_parent[0], s_b[0], s_depth[0] = u, sizes[u], -1, -1, 0
        states = 0
        while qh < qt and states < max_states and nf < 0:
            st = qh
            qh += 1
            states += 1
            x, size_x = s_x[st], s_size[st]
            k = _minus_order(pool, t_start[x], t_size[x], t_fill[x], t_used[x], s_b[st], buf)
            cx, cy = 0.0, 0.0
            for i in range(k):
                cx += xs[buf[i]]
                cy += ys[buf[i]]
            cx /= k
            cy /= k
            no = 0
            for i in range(k):
                a = buf[i]
                for p in range(indptr[a], indptr[a + 1]):
                    b = indices[p]
                    h = owner[b]
                    if h < 0 or fixed[b]:
                        continue
                    on_path = False
                    q = st
                    while q >= 0:
                        if s_x[q] == h:
                            on_path = True
                            break
                        q = s_parent[q]
                    if on_path:
                        continue
                    nb = size_x + weights[b]
                    if not (lo - eps <= nb <= hi + eps):
                        continue
                    if no >= len(opt_d):
                        opt_d = _grown(opt_d, no + 1)
                        opt_b = _grown(opt_b, no + 1)
                        opt_h = _grown(opt_h, no + 1)
                    opt_d[no] = (xs[b] - cx) ** 2 + (ys[b] - cy) ** 2
                    opt_b[no] = b
                    opt_h[no] = h
                    no += 1
            # options.sort(): by (distance, item, group)
            for i in range(1, no):
                d, b, h = opt_d[i], opt_b[i], opt_h[i]
                j = i - 1
                while j >= 0 and (
                    opt_d[j] > d or (opt_d[j] == d and (opt_b[j] > b or (opt_b[j] == b and opt_h[j] > h)))
                ):
                    opt_d[j + 1], opt_b[j + 1], opt_h[j + 1] = opt_d[j], opt_b[j], opt_h[j]
                    j -= 1
                opt_d[j + 1], opt_b[j + 1], opt_h[j + 1] = d, b, h
            for i in range(no):
                b, h = opt_b[i], opt_h[i]
                mk = h * (n + 1) + b
                if mk in memo:
                    whole = memo[mk]
                else:
                    # `_connected(sets[h] - {b})`
                    whole = True
                    if t_used[h] - 1 > 1:
                        start = -1
                        for j in range(t_size[h]):
                            key = pool[t_start[h] + j]
                            if key >= 0 and key != b:
                                start = key
                                break
                        reached = _reach(start, h, b, owner, indptr, indices, seen, stack)
                        for j in range(t_size[h]):
                            key = pool[t_start[h] + j]
                            if key >= 0:
                                seen[key] = False
                        whole = reached == t_used[h] - 1
                    memo[mk] = whole
                if not whole:
                    continue
                rest = sizes[h] - weights[b]
                depth = s_depth[st] + 1
                if rest >= lo - eps:
                    # the moves: the state's own, then (b, h, x)
                    nf = depth
                    found_b[depth - 1], found_h[depth - 1], found_x[depth - 1] = b, h, x
                    q = st
                    while s_parent[q] >= 0:
                        d = s_depth[q]
                        found_b[d - 1], found_h[d - 1], found_x[d - 1] = s_b[q], s_x[q], s_x[s_parent[q]]
                        q = s_parent[q]
                    break
                if depth < max_depth and rest > eps:
                    if qt >= len(s_x):
                        s_x = _grown(s_x, qt + 1)
                        s_size = _grown(s_size, qt + 1)
                        s_parent = _grown(s_parent, qt + 1)
                        s_b = _grown(s_b, qt + 1)
                        s_depth = _grown(s_depth, qt + 1)
                    s_x[qt], s_size[qt], s_parent[qt], s_b[qt], s_depth[qt] = h, rest, st, b, depth
                    qt += 1
        if nf >= 0:
            for i in range(nf):
                pool, top = _move(
                    found_b[i], found_h[i], found_x[i], pool, top, t_start, t_size, t_fill, t_used, owner,
                    sizes, weights,
                )  # fmt: skip
                memo.clear()
            continue
        # --- dissolve(u) ---
        pinned = False
        for j in range(t_size[u]):
            key = pool[t_start[u] + j]
            if key >= 0 and fixed[key]:
                pinned = True
        if pinned:
            continue
        nl = _copy_order(pool, t_start[u], t_size[u], t_fill[u], t_used[u], buf)
        left = buf[:nl].copy()
        np_ = 0
        nr = 0
        progress = True
        while nl > 0 and progress:
            progress = False
            # sorted(left, key=-weight): stable
            order = left[:nl].copy()
            for i in range(1, nl):
                y = order[i]
                j = i - 1
                while j >= 0 and -weights[order[j]] > -weights[y]:
                    order[j + 1] = order[j]
                    j -= 1
                order[j + 1] = y
            for i in range(nl):
                a = order[i]
                # takers = {planned.get(b, owner.get(b, u)) for b in adj[a]} - {u}
                ns = 0
                for p in range(indptr[a], indptr[a + 1]):
                    b = indices[p]
                    v = plan_of[b] if plan_of[b] >= 0 else (owner[b] if owner[b] >= 0 else u)
                    stack[ns] = v
                    ns += 1
                tk = set_table(stack, ns)
                tused = 0
                for j in range(len(tk)):
                    if tk[j] >= 0:
                        tused += 1
                nk = _minus_order(tk, 0, len(tk), tused, tused, u, stack)
                best, best_room = -1, 0.0
                for j in range(nk):
                    h = stack[j]
                    if not has_room[h]:
                        has_room[h] = True
                        room[h] = hi - sizes[h]
                        roomed[nr] = h
                        nr += 1
                    if room[h] >= weights[a] - eps and (best < 0 or room[h] > best_room):
                        best, best_room = h, room[h]
                if best < 0:
                    continue
                room[best] -= weights[a]
                plan_of[a] = best
                planned[np_] = a
                np_ += 1
                k = 0
                for j in range(nl):
                    if left[j] != a:
                        left[k] = left[j]
                        k += 1
                nl = k
                progress = True
                break
        if nl == 0:
            for i in range(np_):
                a = planned[i]
                pool, top = _move(
                    a, u, plan_of[a], pool, top, t_start, t_size, t_fill, t_used, owner, sizes, weights
                )
                memo.clear()
        for i in range(np_):
            plan_of[planned[i]] = -1
        for i in range(nr):
            has_room[roomed[i]] = False
    out = np.empty(n, np.int64)
    bounds = np.empty(ng + 1, np.int64)
    k = 0
    g2 = 0
    for g in range(ng):
        if t_used[g] == 0:
            continue
        bounds[g2] = k
        s0 = k
        for j in range(t_size[g]):
            key = pool[t_start[g] + j]
            if key >= 0:
                out[k] = key
                k += 1
        out[s0:k] = np.sort(out[s0:k])
        g2 += 1
    bounds[g2] = k
    return out[:k], bounds[: g2 + 1]


# --- donations (`donate.donate`) and the areas' graph after them (`engine._partition`) -------------
# Neighbour rows that grow and shrink: row i is `pool[start[i]:start[i] + size[i]]` (room for `cap[i]`);
# a row that outgrows its room moves to the pool's end. Their order is no tie-break anywhere (the
# donors are chosen by a key that ends with the item's index, the areas' graph walks rows sorted).


@_jit
def _rows_from_csr(indptr, indices, n_rows, room):
    """Growable rows: the CSR rows, then `n_rows - (len(indptr) - 1)` empty ones; `room` spare slots."""
    n = len(indptr) - 1
    start = np.zeros(n_rows, np.int64)
    size = np.zeros(n_rows, np.int64)
    cap = np.zeros(n_rows, np.int64)
    pool = np.empty(len(indices) + room, np.int64)
    pool[: len(indices)] = indices
    for i in range(n):
        start[i] = indptr[i]
        size[i] = indptr[i + 1] - indptr[i]
        cap[i] = size[i]
    for i in range(n, n_rows):
        start[i] = len(indices)
    return pool, len(indices), start, size, cap


@_jit
def _row_add(pool, top, start, size, cap, i, v):
    """Append `v` to row i (no check for duplicates); returns the pool (grown if need be) and its end."""
    if size[i] == cap[i]:
        room = 2 * cap[i] + 4
        pool = _grown(pool, top + room)
        pool[top : top + size[i]] = pool[start[i] : start[i] + size[i]]
        start[i] = top
        cap[i] = room
        top += room
    pool[start[i] + size[i]] = v
    size[i] += 1
    return pool, top


@_jit
def _row_has(pool, start, size, i, v):
    found = False
    for p in range(start[i], start[i] + size[i]):
        found = found or pool[p] == v
    return found


@_jit
def _row_discard(pool, start, size, i, v):
    for p in range(start[i], start[i] + size[i]):
        if pool[p] == v:
            size[i] -= 1
            pool[p] = pool[start[i] + size[i]]
            return


@_jit
def _rows_csr(pool, start, size, n_rows):
    indptr = np.zeros(n_rows + 1, np.int64)
    for i in range(n_rows):
        indptr[i + 1] = indptr[i] + size[i]
    indices = np.empty(indptr[n_rows], np.int64)
    for i in range(n_rows):
        indices[indptr[i] : indptr[i + 1]] = pool[start[i] : start[i] + size[i]]
    return indptr, indices


@_jit
def donate_groups(
    members, ends, indptr, indices, weights, xs, ys, known, count, whole, hw_at, hw, lo, hi, allowed
):
    """`donate.donate` on arrays: groups `members[ends[g]:ends[g + 1]]`, the neighbour graph as CSR
    arrays; of item i, `count[i]` households whose weights are `hw[hw_at[i]:hw_at[i] + count[i]]`,
    `whole[i]` whether it is a whole building (part 0), all read only where `known[i]`; `allowed[g]`:
    group g may take donations (`only`).

    Returns (status, donations, groups, items, graph, unknown): status 0, or 1 with the items met as
    donors but not `known` (nothing else is then meaningful: call again with them known); donations as int64
    (donor, receiving group, households given) and float64 (households' weight given, receiver's centre
    x and y, share of the donor) rows, in order (donation d makes item `len(weights) + d`); the groups
    with the given items appended; the items' weights, x, y; the graph with the given items (each linked
    to its donor and the donor's neighbours, both ways)."""
    eps = 1e-9
    n = len(weights)
    ng = len(ends) - 1
    cap_n = n + 3 * ng + 1  # each group takes at most three donations
    w = np.empty(cap_n, np.float64)
    x = np.empty(cap_n, np.float64)
    y = np.empty(cap_n, np.float64)
    cnt = np.zeros(cap_n, np.int64)
    at = np.zeros(cap_n, np.int64)
    wh = np.zeros(cap_n, np.bool_)
    kn = np.zeros(cap_n, np.bool_)
    w[:n] = weights
    x[:n] = xs
    y[:n] = ys
    cnt[:n] = count
    at[:n] = hw_at
    wh[:n] = whole
    kn[:n] = known
    owner = np.full(cap_n, -1, np.int64)
    sizes = np.zeros(ng, np.float64)
    for g in range(ng):
        s = 0.0
        for p in range(ends[g], ends[g + 1]):
            owner[members[p]] = g
            s += weights[members[p]]
        sizes[g] = s
    # Items given to each group, after its members: a linked list per group.
    g_head = np.full(ng, -1, np.int64)
    g_tail = np.full(ng, -1, np.int64)
    g_next = np.full(cap_n, -1, np.int64)
    g_more = np.zeros(ng, np.int64)
    # Links of the given items: a linked list per item after its CSR row (items from n on: no row).
    x_head = np.full(cap_n, -1, np.int64)
    x_cnt = np.zeros(cap_n, np.int64)
    x_next = np.empty(4096, np.int64)
    x_val = np.empty(4096, np.int64)
    top = 0
    pending = np.zeros(ng, np.bool_)
    for g in range(ng):
        pending[g] = sizes[g] < lo - eps
    d_int = np.empty((3 * ng + 1, 3), np.int64)
    d_flt = np.empty((3 * ng + 1, 4), np.float64)
    need = np.empty(cap_n, np.int64)
    n_need = 0
    nd = 0
    for gi in range(ng):
        if not pending[gi] or not allowed[gi]:
            continue
        for _attempt in range(3):
            s = sizes[gi]
            m = ends[gi + 1] - ends[gi] + g_more[gi]
            if s >= lo - eps or m == 0:
                break
            sx = 0.0
            sy = 0.0
            for p in range(ends[gi], ends[gi + 1]):
                sx += x[members[p]]
                sy += y[members[p]]
            a = g_head[gi]
            while a >= 0:
                sx += x[a]
                sy += y[a]
                a = g_next[a]
            cx = sx / m
            cy = sy / m
            best_c = -1
            b_short = False
            b_part = False
            b_d = 0.0
            b_h = -1
            b_k = 0
            b_t = 0.0
            q = ends[gi]
            a = -1
            while True:
                # the group's members, then the items it was given
                if q < ends[gi + 1]:
                    a = members[q]
                    q += 1
                elif q == ends[gi + 1]:
                    a = g_head[gi]
                    q += 1
                else:
                    a = g_next[a]
                if a < 0:
                    break
                p = indptr[a] if a < n else 0
                p_end = indptr[a + 1] if a < n else 0
                e = x_head[a]
                while True:
                    if p < p_end:
                        c = indices[p]
                        p += 1
                    elif e >= 0:
                        c = x_val[e]
                        e = x_next[e]
                    else:
                        break
                    h = owner[c]
                    if h < 0 or h == gi or cnt[c] < 2:
                        continue
                    if not kn[c]:
                        # (carry on as if it could not give: the donations from here on are only a guess,
                        # to find what else to look up before the next call)
                        if n_need < len(need):
                            need[n_need] = c
                            n_need += 1
                        continue
                    spare = sizes[h] - lo
                    last = at[c] + cnt[c] - 1  # the households from the end, all but the first
                    t = 0.0
                    k = 0
                    for r in range(last, at[c], -1):
                        if t >= lo - s - eps:
                            break
                        t += hw[r]
                        k += 1
                    if k == 0 or t > spare + eps or s + t > hi + eps:
                        t = 0.0
                        k = 0
                        for r in range(last, at[c], -1):
                            if t + hw[r] > spare + eps or s + t + hw[r] > hi + eps:
                                break
                            t += hw[r]
                            k += 1
                        if k == 0:
                            continue
                    short = s + t < lo - eps
                    part = wh[c]
                    dx = x[c] - cx
                    dy = y[c] - cy
                    d = dx * dx + dy * dy
                    if best_c >= 0:
                        if short != b_short:
                            better = b_short
                        elif part != b_part:
                            better = b_part
                        elif d != b_d:
                            better = d < b_d
                        else:
                            better = c < best_c
                        if not better:
                            continue
                    best_c, b_short, b_part, b_d, b_h, b_k, b_t = c, short, part, d, h, k, t
            if best_c < 0:
                break
            c, h, k, t = best_c, b_h, b_k, b_t
            new = n + nd
            w[c] -= t
            w[new] = t
            x[new] = x[c]
            y[new] = y[c]
            cnt[new] = k
            at[new] = at[c] + cnt[c] - k
            cnt[c] -= k
            wh[new] = False
            kn[new] = True
            d_int[nd, 0] = c
            d_int[nd, 1] = gi
            d_int[nd, 2] = k
            d_flt[nd, 0] = t
            d_flt[nd, 1] = cx
            d_flt[nd, 2] = cy
            d_flt[nd, 3] = t / max(w[c] + t, eps)
            nd += 1
            # The given item borrows the donor's neighbours (and the donor), both ways.
            base = indptr[c + 1] - indptr[c] if c < n else 0
            need_room = top + 2 * (base + x_cnt[c] + 1)
            if need_room > len(x_val):
                x_next = _grown(x_next, need_room)
                x_val = _grown(x_val, need_room)
            for p in range(base):
                v = indices[indptr[c] + p]
                x_val[top], x_next[top], x_head[new] = v, x_head[new], top
                top += 1
            e = x_head[c]
            while e >= 0:
                x_val[top], x_next[top], x_head[new] = x_val[e], x_head[new], top
                top += 1
                e = x_next[e]
            x_val[top], x_next[top], x_head[new] = c, x_head[new], top
            top += 1
            x_cnt[new] = base + x_cnt[c] + 1
            e = x_head[new]
            while e >= 0:
                v = x_val[e]
                x_val[top], x_next[top], x_head[v] = new, x_head[v], top
                x_cnt[v] += 1
                top += 1
                e = x_next[e]
            if g_tail[gi] >= 0:
                g_next[g_tail[gi]] = new
            else:
                g_head[gi] = new
            g_tail[gi] = new
            g_more[gi] += 1
            owner[new] = gi
            sizes[gi] += t
            sizes[h] -= t
            if h > gi and sizes[h] < lo - eps:
                pending[h] = True
    if n_need > 0:
        none = np.zeros(1, np.int64)
        return 1, d_int[:0], d_flt[:0], none, none, w[:0], x[:0], y[:0], none, none, need[:n_need].copy()
    out = np.empty(len(members) + nd, np.int64)
    out_ends = np.zeros(ng + 1, np.int64)
    k = 0
    for g in range(ng):
        for p in range(ends[g], ends[g + 1]):
            out[k] = members[p]
            k += 1
        a = g_head[g]
        while a >= 0:
            out[k] = a
            k += 1
            a = g_next[a]
        out_ends[g + 1] = k
    g_ptr = np.zeros(n + nd + 1, np.int64)
    for i in range(n + nd):
        g_ptr[i + 1] = g_ptr[i] + (indptr[i + 1] - indptr[i] if i < n else 0) + x_cnt[i]
    g_idx = np.empty(g_ptr[n + nd], np.int64)
    for i in range(n + nd):
        k = g_ptr[i]
        if i < n:
            g_idx[k : k + indptr[i + 1] - indptr[i]] = indices[indptr[i] : indptr[i + 1]]
            k += indptr[i + 1] - indptr[i]
        e = x_head[i]
        while e >= 0:
            g_idx[k] = x_val[e]
            k += 1
            e = x_next[e]
    w, x, y, none = w[: n + nd], x[: n + nd], y[: n + nd], need[:0].copy()
    return 0, d_int[:nd], d_flt[:nd], out, out_ends, w, x, y, g_ptr, g_idx, none


@_jit
def donation_links(indptr, indices, n_before, donors, givens, label):
    """The neighbour graph `engine._partition` groups the areas on, after the donations (donor, given
    item) in turn, from the cells' graph before them (CSR, `n_before` rows; links to later items ignored):
    a given item links to its donor and to the donor's neighbours in the receiving area (`label`: area of
    each item), both ways; then a donor keeps only its links within its own area, and its given items."""
    nd = len(donors)
    n = n_before + nd
    pool, top, start, size, cap = _rows_from_csr(indptr[: n_before + 1], indices, n, 64)
    for i in range(n_before):  # (a row may link to items from `n_before` on: not those)
        k = start[i]
        for p in range(start[i], start[i] + size[i]):
            if pool[p] < n_before:
                pool[k] = pool[p]
                k += 1
        size[i] = k - start[i]
    for d in range(nd):
        c, g = donors[d], givens[d]
        pool, top = _row_add(pool, top, start, size, cap, g, c)
        for p in range(start[c], start[c] + size[c]):
            if label[pool[p]] == label[g]:
                pool, top = _row_add(pool, top, start, size, cap, g, pool[p])
        for p in range(size[g]):
            pool, top = _row_add(pool, top, start, size, cap, pool[start[g] + p], g)
    for d in range(nd):
        c = donors[d]
        p = start[c]
        while p < start[c] + size[c]:
            j = pool[p]
            if label[j] != label[c]:
                _row_discard(pool, start, size, c, j)  # (the last one takes its place: look at p again)
                _row_discard(pool, start, size, j, c)
            else:
                p += 1
    for d in range(nd):
        c, g = donors[d], givens[d]
        if not _row_has(pool, start, size, c, g):
            pool, top = _row_add(pool, top, start, size, cap, c, g)
        if not _row_has(pool, start, size, g, c):
            pool, top = _row_add(pool, top, start, size, cap, g, c)
    return _rows_csr(pool, start, size, n)


@_jit
def donor_candidates(members, ends, indptr, indices, weights, count, lo):
    """Items that may give households to a group short of `lo` (`donate_groups`): in another group, holding
    two or more households, next to its members or to theirs (an item the group is given borrows its
    donor's neighbours); sorted, each once."""
    n = len(indptr) - 1
    owner = np.full(n, -1, np.int64)
    for g in range(len(ends) - 1):
        for p in range(ends[g], ends[g + 1]):
            owner[members[p]] = g
    seen = np.zeros(n, np.bool_)
    for g in range(len(ends) - 1):
        s = 0.0
        for p in range(ends[g], ends[g + 1]):
            s += weights[members[p]]
        if s >= lo - 1e-9:
            continue
        for p in range(ends[g], ends[g + 1]):
            a = members[p]
            for q in range(indptr[a], indptr[a + 1]):
                c = indices[q]
                if owner[c] == g or count[c] < 2:
                    continue
                seen[c] = True
                for r in range(indptr[c], indptr[c + 1]):
                    e = indices[r]
                    if owner[e] != g and count[e] >= 2:
                        seen[e] = True
    return np.flatnonzero(seen)
