"""Cut buildings that hold more than one area's worth of households into unit/floor runs."""

from __future__ import annotations

import itertools
import math

from .model import BuildingIn, Config, Item


def feasible_total(total: float, lo: float, hi: float) -> bool:
    """Whether `total` can be cut into groups each within [lo, hi] (weights of 1: exactly; else roughly)."""
    if total <= 0:
        return True
    k_min = math.ceil(total / hi - 1e-9)
    return k_min * lo <= total + 1e-9


def nearest_feasible(total: float, lo: float, hi: float) -> tuple[float, float]:
    """The nearest totals below and above `total` that can be cut into [lo, hi] groups."""
    below = math.floor(total)
    while below > 0 and not feasible_total(below, lo, hi):
        below -= 1
    above = math.ceil(total)
    while not feasible_total(above, lo, hi):
        above += 1
    return below, above


def split_buildings(
    buildings: list[BuildingIn], config: Config, piece: float = 5.0
) -> tuple[list[Item], list[Item]]:
    """Items for the partition (the second list, of items that must stay alone, is kept for callers
    that pin items; it is empty here).

    A building within the area range stays whole. A bigger one is cut by unit/floor into runs of at
    most `piece` households: the runs are the flexible fillers the partition needs (a 25-household
    block can then go 20 + 5 or 15 + 10 with its neighbours), and cutting it finer does not cut more
    buildings.
    """
    free: list[Item] = []
    hi = config.area_max
    for b in buildings:
        total = b.weight
        if total <= hi + 1e-9:
            free.append(Item(b.id, 0, 0, len(b.weights), total, b.x, b.y))
            continue
        k = math.ceil(total / piece)
        # Runs of households of nearly equal weight, in unit/floor order.
        bounds = [0]
        target = total / k
        acc = 0.0
        for idx, w in enumerate(b.weights):
            acc += w
            if acc >= target * len(bounds) - 1e-9 and len(bounds) < k and idx + 1 < len(b.weights):
                bounds.append(idx + 1)
        bounds.append(len(b.weights))
        for part, (i, j) in enumerate(itertools.pairwise(bounds), start=1):
            free.append(Item(b.id, part, i, j - i, float(sum(b.weights[i:j])), b.x, b.y))
    return free, []
