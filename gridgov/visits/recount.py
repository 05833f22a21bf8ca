"""The full recompute's arithmetic in numpy (no Django): PostgreSQL's binary COPY format to and from
arrays, visits counted per household and period, tables compared row by row.

Used by `recompute.rebuild` / `recompute.differences`: the database streams the counted visits in household
and time order and the other sources, each as one row of packed columns (`decode_packed`); this
module counts and compares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
# Binary COPY field widths by PostgreSQL type (int8, int4, int2, date: days since 2000-01-01, timestamptz:
# microseconds since 2000-01-01 UTC, tid: block and offset).
WIDTHS = {"int8": 8, "int4": 4, "int2": 2, "date": 4, "timestamptz": 8, "tid": 6}
EPOCH = np.datetime64("2000-01-01", "D")


class Unreadable(ValueError):
    """Binary COPY data that is not the fixed-width rows expected (a NULL, another width)."""


def _row_dtype(types: Sequence[str]) -> np.dtype:
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, t in enumerate(types):
        fields.append((f"l{i}", ">i4"))
        if t == "tid":
            fields += [(f"b{i}", ">u4"), (f"o{i}", ">u2")]
        else:
            fields.append((f"v{i}", f">i{WIDTHS[t]}"))
    return np.dtype(fields)


def encode(columns: Sequence[np.ndarray], types: Sequence[str]) -> bytes:
    """Binary COPY data of int columns (no tid) for `COPY … FROM STDIN (FORMAT binary)`."""
    n = len(columns[0]) if columns else 0
    rows = np.zeros(n, _row_dtype(types))
    rows["n"] = len(types)
    for i, (column, t) in enumerate(zip(columns, types, strict=True)):
        rows[f"l{i}"] = WIDTHS[t]
        rows[f"v{i}"] = column
    return HEADER + rows.tobytes() + TRAILER


# `period_of`: instants cut into spans of 2^40 µs (12.7 days, shorter than any month: at most one month
# starts in each), looked up in a table of them rather than searched for among the month starts.
SPAN_SHIFT = 40


def period_of(times: np.ndarray, month_instants: np.ndarray) -> np.ndarray:
    """The index of the month holding each instant, from the instants at which the months start (sorted;
    the first at or before every time): a visit belongs to the month whose start it has reached and whose
    end it has not, as `rollups.period_bounds` bounds a period for the upkeep. (What
    `np.searchsorted(month_instants, times, side="right") - 1` answers, in a few passes: per span of
    SPAN_SHIFT, the month at its start and the start of the next month if it falls within it.)"""
    if not len(times) or not len(month_instants):
        return np.searchsorted(month_instants, times, side="right") - 1
    first = int(month_instants[0]) >> SPAN_SHIFT
    spans = (int(month_instants[-1]) >> SPAN_SHIFT) - first + 1
    span = times >> SPAN_SHIFT
    span -= first
    if span.min() < 0 or span.max() >= spans:  # (times beyond the months' spans)
        return np.searchsorted(month_instants, times, side="right") - 1
    starts = (np.arange(spans, dtype=np.int64) + first) << SPAN_SHIFT
    month = np.searchsorted(month_instants, starts, side="right") - 1
    following = np.minimum(month + 1, len(month_instants) - 1)
    within = (month + 1 < len(month_instants)) & (month_instants[following] < starts + (1 << SPAN_SHIFT))
    next_start = np.where(within, month_instants[following], np.iinfo(np.int64).max)
    out = month.take(span)
    out += times >= next_start.take(span)
    return out


def month_kinds(month_starts: np.ndarray) -> np.ndarray:
    """For each month start (datetime64[D], consecutive months), the index of the month that starts its
    period of each kind: column 0 month (itself), 1 quarter, 2 year."""
    months = month_starts.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    index = np.arange(len(month_starts))
    in_year = months % 12
    return np.stack([index, index - in_year % 3, index - in_year], axis=1)


def count_met(
    households: np.ndarray,
    months: np.ndarray,
    state_households: np.ndarray,
    state_kind: np.ndarray,
    state_need: np.ndarray,
    period_month: np.ndarray,
    change: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Households that met their policy, per period: the counted visits (household ids and month
    indexes, in household and time order) counted per household and period of the household's kind.

    States: household ids (sorted), kind (0 month, 1 quarter, 2 year), need; `period_month`: from
    `month_kinds`; `change` (if known): `households[1:] != households[:-1]`. Returns (state index, period:
    the index of its first month) per household and period whose visits reach the need; visits of
    households without a state are not counted."""
    n = len(households)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.empty(n, bool)
    first[0] = True
    if change is None:
        np.not_equal(households[1:], households[:-1], out=first[1:])
    else:
        first[1:] = change
    starts = np.flatnonzero(first)
    owners = households[starts]
    state = np.searchsorted(state_households, owners)
    state[state == len(state_households)] = 0
    known = state_households[state] == owners if len(state_households) else np.zeros(len(owners), bool)
    if not known.all():  # visits of households without a state: left out
        keep = np.repeat(known, np.diff(np.append(starts, n)))
        households, months = households[keep], months[keep]
        return count_met(households, months, state_households, state_kind, state_need, period_month)
    # The period of each visit: its month's period of its household's kind, looked up in one flat table
    # (per-visit arrays as narrow as they can be: the month and the kind).
    kinds = period_month.shape[1]
    narrow = np.int32 if len(period_month) * kinds < 2**31 else np.int64
    kind_of_visit = np.repeat(state_kind[state].astype(narrow), np.diff(np.append(starts, n)))
    kind_of_visit += months.astype(narrow, copy=False) * narrow(kinds)
    period = period_month.astype(narrow).ravel().take(kind_of_visit)
    del kind_of_visit
    # Runs of one household and period (periods do not decrease within a household: time order).
    run = first.copy()
    run[1:] |= period[1:] != period[:-1]
    run_starts = np.flatnonzero(run)
    counts = np.diff(np.append(run_starts, n))
    run_state = state[np.cumsum(first[run_starts]) - 1]  # (the household of a run: those begun before)
    met = counts >= state_need[run_state]
    return run_state[met], period[run_starts][met].astype(np.int64)


def _one_key(kept: Sequence[np.ndarray], fresh: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """The key columns of both tables as one int64 each (mixed radix over the columns' ranges, which
    orders like the columns), or None when their ranges are too wide for one int64."""
    if len(kept) == 1:
        return kept[0], fresh[0]
    one_k, one_f, span = np.zeros(len(kept[0]), np.int64), np.zeros(len(fresh[0]), np.int64), 1
    for k, f in zip(kept, fresh, strict=True):
        both = [c for c in (k, f) if len(c)]
        low = min(int(c.min()) for c in both) if both else 0
        width = max(int(c.max()) for c in both) - low + 1 if both else 1
        if width > 4 * (len(k) + len(f)):  # sparse values (codes): their ranks instead
            values, rank = np.unique(np.concatenate([k, f]), return_inverse=True)
            k, f, low, width = rank[: len(k)], rank[len(k) :], 0, max(len(values), 1)
        span *= width
        if span >= 1 << 62:
            return None
        one_k, one_f = one_k * width + (k - low), one_f * width + (f - low)
    return one_k, one_f


def _order(key: np.ndarray) -> np.ndarray | slice:
    """The order that sorts `key` (all of it when it is already sorted)."""
    if len(key) < 2 or (key[1:] > key[:-1]).all():
        return slice(None)
    return np.argsort(key, kind="stable")


def differing(
    kept: Sequence[np.ndarray], fresh: Sequence[np.ndarray], nkeys: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Compare two tables given as int64 columns (key columns first, then values; keys unique within
    each). Returns (kept rows to remove: the indexes of those not in `fresh` as they are, fresh rows to
    add: those not in `kept` as they are, the number of keys that differ: missing, extra or with other
    values)."""
    if len(kept[0]) == len(fresh[0]):  # the usual case, nothing differs: both in key order, then equal
        keys = _one_key(kept[:nkeys], fresh[:nkeys])
        if keys is not None:
            ko, fo = _order(keys[0]), _order(keys[1])
            if all(np.array_equal(k[ko], f[fo]) for k, f in zip(kept, fresh, strict=True)):
                return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    nk = len(kept[0])
    both = np.concatenate([np.column_stack(kept), np.column_stack(fresh)])
    if not len(both):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    order = np.lexsort([both[:, c] for c in range(both.shape[1] - 1, -1, -1)])
    s = both[order]
    same_next = np.zeros(len(s), bool)
    same_next[:-1] = (s[1:] == s[:-1]).all(axis=1)
    matched = same_next.copy()
    matched[1:] |= same_next[:-1]
    alone = order[~matched]
    remove, add = alone[alone < nk], alone[alone >= nk] - nk
    keys_alone = both[alone, :nkeys]
    distinct = len(np.unique(keys_alone, axis=0)) if len(keys_alone) else 0
    return remove, add, distinct


def days(month_starts: np.ndarray) -> np.ndarray:
    """datetime64[D] dates as days since 2000-01-01 (PostgreSQL's binary date)."""
    return (month_starts - EPOCH).astype(np.int64)


def tally(keys: np.ndarray, size: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of `keys` (ints in [0, size)) in order, and how many of each (or the sum of their
    `weights`): by counting into `size` bins when that is not much larger than the keys, else by sorting."""
    if size <= 8 * len(keys) + (1 << 20):
        counts = np.bincount(keys, weights=weights, minlength=size)
        distinct = np.flatnonzero(counts)
        return distinct, counts[distinct].astype(np.int64)
    order = np.argsort(keys, kind="stable")
    s = keys[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if len(s) else np.zeros(0, np.int64)
    w = np.ones(len(s), np.int64) if weights is None else weights[order].astype(np.int64)
    return s[starts], np.add.reduceat(w, starts) if len(s) else np.zeros(0, np.int64)


PACKED = {"int8": ">i8", "int4": ">i4", "int2": ">i2", "date": ">i4", "timestamptz": ">i8"}


def decode_packed(data: bytes | bytearray | memoryview, types: Sequence[str]) -> list[np.ndarray]:
    """A binary COPY of one row: a bytea per column holding its values of its type in binary form one after
    the other (`string_agg(<type>send(x), '')`; NULL: no rows), every column as many values, as int64
    arrays (a tid as block << 16 | offset, which orders like the tid)."""
    buf = memoryview(data)
    if bytes(buf[:11]) != HEADER[:11] or bytes(buf[-2:]) != TRAILER:
        raise Unreadable("not a binary COPY stream")
    pos = 19 + int(np.frombuffer(buf[15:19], ">u4")[0])
    (fields,) = np.frombuffer(buf[pos : pos + 2], ">i2")
    if fields != len(types):
        raise Unreadable("another row than a column each")
    pos += 2
    out, count = [], None
    for t in types:
        (n,) = np.frombuffer(buf[pos : pos + 4], ">i4")
        pos += 4
        width = WIDTHS[t]
        n = max(int(n), 0)
        if count is None and n % width == 0:
            count = n // width
        if n != (count or 0) * width:
            raise Unreadable(f"a column of {n} bytes for {count} values of {width}")
        if t == "tid":
            items = np.frombuffer(buf[pos : pos + n], np.dtype([("b", ">u4"), ("o", ">u2")]))
            out.append((items["b"].astype(np.int64) << 16) | items["o"].astype(np.int64))
        else:
            out.append(np.frombuffer(buf[pos : pos + n], PACKED[t]).astype(np.int64))
        pos += n
    if pos != len(buf) - 2:
        raise Unreadable("more than one row")
    return out
