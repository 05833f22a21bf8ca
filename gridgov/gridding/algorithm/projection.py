"""A local metric plane for one community: equirectangular about its centre.

Over a community (a few km) the scale error is below 1e-4, far inside what gridding needs, and the
transform is exact to invert, so polygons computed in metres come back onto the same lon/lat.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

M_PER_DEG_LAT = 110_574.0


@dataclass(frozen=True)
class Projection:
    lon0: float
    lat0: float

    @classmethod
    def around(cls, geom: BaseGeometry) -> Projection:
        c = geom.centroid
        return cls(c.x, c.y)

    @property
    def kx(self) -> float:
        return M_PER_DEG_LAT * math.cos(math.radians(self.lat0))

    def to_metric(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(
            geom,
            lambda c: np.column_stack(
                [(c[:, 0] - self.lon0) * self.kx, (c[:, 1] - self.lat0) * M_PER_DEG_LAT]
            ),
        )

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(
            geom,
            lambda c: np.column_stack([c[:, 0] / self.kx + self.lon0, c[:, 1] / M_PER_DEG_LAT + self.lat0]),
        )

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG_LAT
