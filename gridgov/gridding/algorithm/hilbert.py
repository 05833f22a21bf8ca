"""Hilbert curve order of points (vectorised): nearby points get nearby ranks."""

from __future__ import annotations

import numpy as np


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
    s = n >> 1
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        # rotate
        flip = ~ry
        swap_x = np.where(flip & rx, n - 1 - xi, xi)
        swap_y = np.where(flip & rx, n - 1 - yi, yi)
        xi, yi = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        s >>= 1
    return d
