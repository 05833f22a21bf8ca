"""Database constraints hold even when application code is bypassed."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import Point
from django.db import IntegrityError, transaction
from django.utils import timezone

from gridgov.households.models import Household

from . import factories as f

pytestmark = pytest.mark.django_db


def rejects(fn) -> str:
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        fn()
    return str(exc.value)


def test_codes_are_unique_and_well_formed(world):
    assert "unique" in rejects(
        lambda: f.HouseholdFactory(community=world.community, code="HA1", point=world.household_a.point)
    )
    assert "community_code_12_digits" in rejects(
        lambda: f.CommunityFactory(street=world.community.street, code="44030800100X")
    )


def test_child_codes_extend_parent_codes(world):
    msg = rejects(
        lambda: f.GridFactory(
            community=world.community, code="440308001002009", boundary=world.grid_a.boundary
        )
    )
    assert "does not extend its community code" in msg


def test_grid_must_lie_inside_its_community(world):
    x, y = f.X0, f.Y0
    msg = rejects(
        lambda: f.GridFactory(
            community=world.community,
            code="440308001001009",
            boundary=f.box(x + 0.015, y, x + 0.03, y + 0.01),
        )
    )
    assert "is not inside community" in msg


def test_area_must_lie_inside_its_grid(world):
    msg = rejects(
        lambda: f.AreaFactory(grid=world.grid_a, code="44030800100100109", boundary=world.grid_b.boundary)
    )
    assert "is not inside grid" in msg


def test_household_must_lie_inside_its_community(world):
    outside = Point(f.X0 + 0.03, f.Y0 + 0.005, srid=4326)  # inside the other community
    msg = rejects(lambda: f.HouseholdFactory(community=world.community, point=outside))
    assert "lies outside its community" in msg


def test_household_area_must_be_in_the_same_community(world):
    hd = Household.objects.get(code="HD1")
    hd.area = world.area_a
    msg = rejects(hd.save)
    assert "responsibility area of another community" in msg


def test_gridded_community_needs_an_area_for_every_active_household(world):
    world.community.gridded_at = timezone.now()
    world.community.save()
    msg = rejects(lambda: f.HouseholdFactory(community=world.community, point=world.household_a.point))
    assert "has no responsibility area" in msg
    # Inactive households may stay unassigned.
    f.HouseholdFactory(community=world.community, point=world.household_a.point, active=False)


def test_community_cannot_be_marked_gridded_with_orphan_households(world):
    f.HouseholdFactory(community=world.community, point=world.household_a.point, code="ORPHAN")
    world.community.gridded_at = timezone.now()
    assert "without a responsibility area" in rejects(world.community.save)
