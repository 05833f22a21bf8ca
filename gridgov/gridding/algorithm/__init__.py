"""Pure gridding engine (numpy + shapely; no Django). See engine.py for the pipeline."""

from .engine import CodeSpaceError, GriddingInputError, feasibility, partition, plan_community
from .model import BuildingIn, CommunityIn, Config, Item, Plan, Problem

__all__ = [
    "BuildingIn",
    "CodeSpaceError",
    "CommunityIn",
    "Config",
    "GriddingInputError",
    "Item",
    "Plan",
    "Problem",
    "feasibility",
    "partition",
    "plan_community",
]
