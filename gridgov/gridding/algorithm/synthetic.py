"""Synthetic communities for tests and benchmarks: buildings on a jittered street lattice."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import Polygon

from .model import BuildingIn, CommunityIn


def lattice_community(
    n_buildings: int,
    *,
    seed: int = 1,
    spacing: float = 40.0,
    big_share: float = 0.08,
    irregular: bool = False,
) -> CommunityIn:
    """`n_buildings` buildings of 1–30 households (about `big_share` above 20) on a jittered lattice."""
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(n_buildings))
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    pts = np.column_stack([gx.ravel(), gy.ravel()])[:n_buildings].astype(float) * spacing
    pts += rng.uniform(-0.3, 0.3, pts.shape) * spacing
    big = rng.random(n_buildings) < big_share
    households = np.where(big, rng.integers(21, 31, n_buildings), rng.integers(1, 21, n_buildings))
    minx, miny = pts.min(axis=0) - spacing / 2
    maxx, maxy = pts.max(axis=0) + spacing / 2
    boundary: Polygon = shapely.box(minx, miny, maxx, maxy)
    if irregular:
        # A bite out of one corner and a wavy edge: non-convex like real communities.
        bite = shapely.box(minx, miny, minx + (maxx - minx) / 3, miny + (maxy - miny) / 3)
        boundary = boundary.difference(bite)
        keep = shapely.contains_xy(boundary.buffer(-2), pts[:, 0], pts[:, 1])
        pts, households = pts[keep], households[keep]
    buildings = [
        BuildingIn.simple(f"b{i}", float(x), float(y), int(h))
        for i, ((x, y), h) in enumerate(zip(pts, households, strict=True))
    ]
    return CommunityIn(boundary=boundary, buildings=buildings)
