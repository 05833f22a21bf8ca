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
    (cost, mask), written to the buffers; returns how many. ESU enumeration as `grow._cover.options`;
    `si`, `sf` (int and float columns, 600·(m + 1) + 1 rows) are the stack."""
    above = ~((np.int64(1) << (v + 1)) - 1)
    s_mask, s_ext, s_n, s_reach = si[0], si[1], si[2], si[3]
    s_total, s_sx, s_sy, s_sq = sf[0], sf[1], sf[2], sf[3]
    s_mask[0] = np.int64(1) << v
    s_ext[0] = nbr[v] & above
    s_total[0] = w[v]
    s_n[0] = 1
    s_sx[0] = px[v]
    s_sy[0] = py[v]
    s_sq[0] = pxx[v] + pyy[v]
    s_reach[0] = nbr[v] | (np.int64(1) << v)
    top = 1
    produced = 0
    k = 0
    while top > 0 and produced < 600:
        top -= 1
        mask = s_mask[top]
        ext = s_ext[top]
        total = s_total[top]
        n = s_n[top]
        sx = s_sx[top]
        sy = s_sy[top]
        sq = s_sq[top]
        reach = s_reach[top]
        produced += 1
        if total >= lo_e:
            spread = sq - (sx * sx + sy * sy) / n
            extra = penalty
            for q in range(len(prefer)):
                if prefer[q] == mask:
                    extra = 0.0
                    break
            o_cost[k] = spread + extra
            o_mask[k] = mask
            o_total[k] = total
            k += 1
        while ext:
            low = ext & -ext
            ext ^= low
            j = 0
            while (low >> j) != 1:
                j += 1
            tj = total + w[j]
            if tj > hi_e:
                continue
            s_mask[top] = mask | low
            s_ext[top] = ext | (nbr[j] & ~reach & above)
            s_total[top] = tj
            s_n[top] = n + 1
            s_sx[top] = sx + px[j]
            s_sy[top] = sy + py[j]
            s_sq[top] = sq + pxx[j] + pyy[j]
            s_reach[top] = reach | nbr[j] | low
            top += 1
    # Sort by (cost, mask): masks are distinct, so this is the order of Python's tuple sort.
    by_mask = np.argsort(o_mask[:k], kind="mergesort")
    cost = o_cost[:k][by_mask]
    perm = by_mask[np.argsort(cost, kind="mergesort")]
    c2 = o_cost[:k][perm]
    m2 = o_mask[:k][perm]
    t2 = o_total[:k][perm]
    o_cost[:k] = c2
    o_mask[:k] = m2
    o_total[:k] = t2
    return k


@_jit
def cover(nbr, w, px, py, lo, hi, budget, prefer, penalty):
    """`grow._cover` on int64 bitmasks (at most 62 members): the chosen groups' masks, or an empty
    array when there is no cover; the search is the same, made iterative."""
    m = len(w)
    pxx = px * px
    pyy = py * py
    lo_e, hi_e = lo - 1e-9, hi + 1e-9
    width = 600
    si = np.empty((4, width * (m + 1) + 1), np.int64)
    sf = np.empty((4, width * (m + 1) + 1), np.float64)
    o_cost = np.empty((m, width), np.float64)
    o_mask = np.empty((m, width), np.int64)
    o_total = np.empty((m, width), np.float64)
    o_n = np.full(m, -1, np.int64)
    full = (np.int64(1) << m) - 1
    best_cost = np.inf
    best = np.empty(m, np.int64)
    n_best = -1
    chosen = np.empty(m + 1, np.int64)
    steps = 1
    dead = numba.typed.Dict.empty(key_type=numba.int64, value_type=numba.boolean)
    left0 = 0.0
    for i in range(m):
        left0 += w[i]
    if m == 0 or math.ceil(left0 / hi - 1e-9) * lo > left0 + 1e-9:
        return best[:0]
    # Frames of the recursive search: state covered, cost, left; the element covered next; the option.
    f_cov = np.empty(m + 1, np.int64)
    f_cost = np.empty(m + 1, np.float64)
    f_left = np.empty(m + 1, np.float64)
    f_v = np.empty(m + 1, np.int64)
    f_i = np.empty(m + 1, np.int64)
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
                o_cost[v],
                o_mask[v],
                o_total[v],
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
            if now in dead:
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
            dead[covered] = True
        d -= 1
    if n_best < 0:
        return best[:0]
    return best[:n_best].copy()


@_jit
def region_cut(members, indptr, indices, weights, xs, ys, lo, hi, prefer_groups, prefer_ptr, local, nonneg):
    """`grow.mend`'s re-cut of one region: `members` sorted west to east, their neighbour bitmasks, the
    preferred groups (`prefer_groups[prefer_ptr[k]:prefer_ptr[k + 1]]`) as masks, the stranded-member
    shortcut (with `nonneg`), then the exact search. Returns each member's group (-1 for all when
    there is no cut) in the west-to-east order, and that order. `local` (one entry per element, all -1)
    is scratch space, left as it was found."""
    m = len(members)
    key_x = xs[members]
    key_y = ys[members]
    # Python's sorted(members, key=(x, y)): stable, lexicographic.
    by_y = np.argsort(key_y, kind="mergesort")
    order = members[by_y[np.argsort(key_x[by_y], kind="mergesort")]]
    label = np.full(m, -1, np.int64)
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
        nbr = np.zeros(m, np.int64)
        for i in range(m):
            g = order[i]
            bits = np.int64(0)
            for p in range(indptr[g], indptr[g + 1]):
                q = local[indices[p]]
                if q >= 0:
                    bits |= np.int64(1) << q
            nbr[i] = bits
        prefer = np.zeros(len(prefer_ptr) - 1, np.int64)
        for k in range(len(prefer_ptr) - 1):
            mk = np.int64(0)
            for p in range(prefer_ptr[k], prefer_ptr[k + 1]):
                mk |= np.int64(1) << local[prefer_groups[p]]
            prefer[k] = mk
        masks = cover(nbr, weights[order], xs[order], ys[order], lo, hi, 20000, prefer, 1e12)
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
