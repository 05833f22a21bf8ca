"""Inputs and outputs of the gridding engine. Coordinates are metric (metres, any local projection)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import LineString, MultiPolygon, Polygon


@dataclass(frozen=True)
class Config:
    area_min: float = 15
    area_max: float = 20
    grid_min: float = 100
    grid_max: float = 300
    # Penalty (in units of the compactness cost) for a group that spans a barrier.
    barrier_penalty: float = 1e9
    # Minimum shared border (m) for two cells to count as neighbours.
    min_shared_border: float = 0.5


@dataclass(frozen=True)
class BuildingIn:
    """A building: its households' workload weights in unit/floor order (1.0 each by default)."""

    id: str
    x: float
    y: float
    weights: tuple[float, ...]
    footprint: Polygon | None = None
    # Stable ids of the households (unit/floor order); default "0", "1", … Re-grids match on them.
    household_ids: tuple[str, ...] = ()

    def hid(self, index: int) -> str:
        return self.household_ids[index] if self.household_ids else str(index)

    @classmethod
    def simple(cls, id: str, x: float, y: float, households: int, **kw: object) -> BuildingIn:
        return cls(id=id, x=x, y=y, weights=(1.0,) * households, **kw)  # type: ignore[arg-type]

    @property
    def weight(self) -> float:
        return float(sum(self.weights))


@dataclass
class CommunityIn:
    boundary: Polygon | MultiPolygon
    buildings: list[BuildingIn]
    barriers: list[LineString] = field(default_factory=list)


@dataclass(frozen=True)
class Item:
    """A unit of the partition: a whole building or one slice of a split building."""

    building: str
    part: int  # 0 for a whole building; 1..k for slices of a split building
    first: int  # index of the first household (in the building's unit/floor order)
    count: int  # number of households
    weight: float
    x: float
    y: float

    @property
    def key(self) -> tuple[str, int]:
        return (self.building, self.part)


@dataclass(frozen=True)
class Problem:
    """Something the engine could not satisfy, and the nearest feasible alternative."""

    kind: str  # "infeasible_block", "infeasible_community", "out_of_range", "not_contiguous", "input"
    message: str
    where: tuple[str, ...] = ()
    alternative: str = ""
    # The numbers in the message, so that a user interface can say it in its own language (and, under
    # "alternative", the steps of the nearest alternative: see `nearest.explain`).
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """The result: item → area, area → grid; polygons when built."""

    items: list[Item]
    area_of: list[int]  # per item
    grid_of_area: list[int]  # per area
    area_codes: list[str] = field(default_factory=list)
    grid_codes: list[str] = field(default_factory=list)
    area_polygons: list[Polygon] = field(default_factory=list)
    grid_polygons: list[Polygon] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    item_cells: list = field(default_factory=list)  # one polygon per item, when built
    # Donations the partition decided on the neighbour graph; `plan_community` cuts their cells.
    donations: list = field(default_factory=list)
    # Per item, the items its cell borders (links across a barrier kept only where a block's total
    # cannot be cut on its own): the graph the problems' alternatives were searched on. Set by
    # `plan_community` and `regrid`, so that a plan adjusted by hand can be checked again on it.
    links: list = field(default_factory=list)
    # A re-grid's path: "stored" (no change: the plan in force), "incremental" (only the change's
    # region rebuilt), "full" (every cell rebuilt), with why the incremental one was not taken.
    regrid_path: str = ""
    # The plan's `quality.measure` against the community's boundary when the re-grid took it (to choose
    # a path), so that the caller need not measure again; None otherwise.
    measured: object | None = None

    @property
    def n_areas(self) -> int:
        return len(self.grid_of_area)

    @property
    def n_grids(self) -> int:
        return max(self.grid_of_area, default=-1) + 1

    def area_weights(self) -> list[float]:
        out = [0.0] * self.n_areas
        for item, a in zip(self.items, self.area_of, strict=True):
            out[a] += item.weight
        return out

    def grid_weights(self) -> list[float]:
        out = [0.0] * self.n_grids
        for a, w in enumerate(self.area_weights()):
            out[self.grid_of_area[a]] += w
        return out

    household_ids: dict[str, tuple[str, ...]] = field(default_factory=dict)  # building → ids, when given

    def household_area(self) -> dict[tuple[str, str], int]:
        """(building id, household id) → area index."""
        out: dict[tuple[str, str], int] = {}
        for item, a in zip(self.items, self.area_of, strict=True):
            ids = self.household_ids.get(item.building)
            for h in range(item.first, item.first + item.count):
                out[(item.building, ids[h] if ids else str(h))] = a
        return out

    def household_codes(self) -> dict[tuple[str, str], tuple[str, str]]:
        """(building id, household id) → (area code, grid code)."""
        return {
            k: (self.area_codes[a], self.grid_codes[self.grid_of_area[a]])
            for k, a in self.household_area().items()
        }
