"""Hilbert curve order of points (vectorised): nearby points get nearby ranks."""

from __future__ import annotations

import numpy as np


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The curve as a state machine. The classic walk (per level from the top: quadrant digit, then
    "if ry == 0: if rx == 1: complement x and y; swap x and y") only ever complements or swaps the
    coordinates, so its state is (swapped, complemented): 4 states. Tables for one level (index
    state·4 + bx·2 + by, bits of the original coordinates) and for two levels at once (index
    state·16 + two bits of x·4 + two bits of y): the digit(s) and the next state."""
    digit1 = np.zeros(16, dtype=np.int64)
    next1 = np.zeros(16, dtype=np.int64)
    for state in range(4):
        swapped, complemented = state >> 1, state & 1
        for bx in range(2):
            for by in range(2):
                rx = (by if swapped else bx) ^ complemented
                ry = (bx if swapped else by) ^ complemented
                i = state * 4 + bx * 2 + by
                digit1[i] = (3 * rx) ^ ry
                next1[i] = state if ry else (swapped ^ 1) * 2 + (complemented ^ rx)
    digit2 = np.zeros(64, dtype=np.int64)
    next2 = np.zeros(64, dtype=np.int64)
    for state in range(4):
        for x2 in range(4):
            for y2 in range(4):
                i1 = state * 4 + (x2 >> 1) * 2 + (y2 >> 1)
                i2 = next1[i1] * 4 + (x2 & 1) * 2 + (y2 & 1)
                digit2[state * 16 + x2 * 4 + y2] = digit1[i1] * 4 + digit1[i2]
                next2[state * 16 + x2 * 4 + y2] = next1[i2]
    return digit1, next1, digit2, next2


_DIGIT1, _NEXT1, _DIGIT2, _NEXT2 = _tables()


def hilbert_index(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """Index of each point on a Hilbert curve of 2**order × 2**order cells over the points' bbox."""
    n = 1 << order
    span = max(float(np.ptp(x)) if len(x) else 0.0, float(np.ptp(y)) if len(y) else 0.0, 1e-9)
    xi = (
        np.clip(((x - x.min()) / span * (n - 1)).astype(np.int64), 0, n - 1) if len(x) else x.astype(np.int64)
    )
    yi = (
        np.clip(((y - y.min()) / span * (n - 1)).astype(np.int64), 0, n - 1) if len(y) else y.astype(np.int64)
    )
    d = np.zeros(len(xi), dtype=np.int64)
    state = np.zeros(len(xi), dtype=np.int64)
    shift = order - 1
    if order % 2:  # an odd level count: the top level on its own, then two at a time
        i = state * 4 + ((xi >> shift) & 1) * 2 + ((yi >> shift) & 1)
        d, state = _DIGIT1[i], _NEXT1[i]
        shift -= 1
    shift -= 1
    while shift >= 0:
        i = state * 16 + ((xi >> shift) & 3) * 4 + ((yi >> shift) & 3)
        d = (d << 4) | _DIGIT2[i]
        state = _NEXT2[i]
        shift -= 2
    return d
