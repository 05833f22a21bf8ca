"""Issue tests: the seeded loop (re-seeded: transactional tests elsewhere truncate it) and places."""

from __future__ import annotations

import pytest
from django.apps import apps as django_apps
from django.contrib.gis.geos import Point

from gridgov.cases.defaults import seed

from .. import factories as f


@pytest.fixture(autouse=True)
def default_loop(db) -> None:
    seed(django_apps)


# Places in the `world` fixture: in area A (grid A), in grid B, in the street outside any community,
# and outside the district.
IN_A = Point(f.X0 + 0.002, f.Y0 + 0.005, srid=4326)
IN_B = Point(f.X0 + 0.015, f.Y0 + 0.005, srid=4326)
IN_STREET_ONLY = Point(f.X0 + 0.05, f.Y0 + 0.05, srid=4326)
OUTSIDE = Point(f.X0 + 0.5, f.Y0 + 0.5, srid=4326)
