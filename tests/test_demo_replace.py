"""`manage.py load_demo_city --replace` replaces the demo city in one transaction, the visits to its
households included (they would block the deletion of the households); it is refused, naming what blocks
it, when issues were reported in the city (an issue's timeline is append-only: issues are never deleted);
a replacement that fails leaves the city as it was."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from gridgov.accounts.models import Role
from gridgov.cases.defaults import seed
from gridgov.cases.demo import load_demo_cases
from gridgov.cases.models import Case
from gridgov.geo.demo_load import delete_demo_city
from gridgov.geo.management.commands import load_demo_city as command
from gridgov.households.models import Household
from gridgov.visits import recompute, rollups, services
from gridgov.visits.models import Visit

from . import factories as f

pytestmark = pytest.mark.django_db

SMALL = {"households": 1500, "no_gridding": True}


@pytest.fixture
def demo_with_a_visit():
    admin = f.UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True)
    call_command("load_demo_city", **SMALL)
    h = Household.objects.filter(community__code__startswith="440308", area__isnull=False).first()
    when = (timezone.now() - timedelta(hours=1)).isoformat()
    item = {"id": "7c1d1f3e-0000-4000-8000-000000000001", "household": h.code, "channel": "phone"}
    results = services.record_visits([{**item, "device_time": when}], actor=admin)
    assert [r.status for r in results] == ["created"]
    return admin


def test_replace_with_visits(demo_with_a_visit):
    before = set(Household.objects.values_list("code", flat=True))
    call_command("load_demo_city", replace=True, **SMALL)
    assert not Visit.objects.exists()
    assert set(Household.objects.values_list("code", flat=True)) == before  # (the generator is deterministic)
    assert not any(recompute.differences().values())


def test_replace_is_refused_when_the_city_has_issues(demo_with_a_visit):
    seed(django_apps)
    assert load_demo_cases(count=5) == 5
    households = Household.objects.count()
    with pytest.raises(CommandError, match="has 5 issues"):
        call_command("load_demo_city", replace=True, **SMALL)
    assert (Household.objects.count(), Case.objects.count(), Visit.objects.count()) == (households, 5, 1)


def test_a_failed_replace_leaves_the_city(demo_with_a_visit, monkeypatch):
    households = Household.objects.count()

    def fail(*args, **kwargs):
        raise RuntimeError("generator failed")

    monkeypatch.setattr(command, "load_demo_city", fail)
    with pytest.raises(RuntimeError):
        call_command("load_demo_city", replace=True, **SMALL)
    assert (Household.objects.count(), Visit.objects.count()) == (households, 1)


def test_replace_with_gridding(demo_with_a_visit):
    """The whole path: the demo city replaced and gridded (plans approved, idle members given areas), in
    one transaction; the rollups exact."""
    from gridgov.geo.models import ResponsibilityArea
    from gridgov.visits import rollups

    rollups.fold()  # (dashboard rows kept: the upkeep of areas changing hands derives them)
    call_command("load_demo_city", replace=True, households=1500)
    assert ResponsibilityArea.objects.filter(member__isnull=False).exists()
    assert not Visit.objects.exists()
    assert not any(recompute.differences().values())


@pytest.mark.django_db(transaction=True)
def test_deleting_the_demo_city_does_not_deadlock_with_a_batch(world):
    """The deletion takes the household table before the delta table, as every writer does (README,
    Visits): were it to take the delta table first (its members' and areas' upkeep) and the household
    table only for its `rebuild`, a batch for a household outside the city, holding that household and
    waiting for the delta table, would wait for it while it waited for the batch. (Community D deleted,
    a batch for HA1 of community C.)"""
    from .visits.test_writer_locks import _batch, _race

    rollups.refresh(Household.objects.values_list("id", flat=True))
    got: dict = {}
    errors = _race(
        world.household_a.pk,
        _batch(world, got, ("HA1",)),
        lambda: delete_demo_city(world.other_community.code),
    )
    assert errors == []
    assert [r.status for r in got["results"]] == ["created"]
    assert not Household.objects.filter(community_id=world.other_community.pk).exists()
    rollups.fold()
    assert not any(recompute.differences().values())


@pytest.mark.django_db(transaction=True)
def test_loading_the_demo_city_does_not_deadlock_with_a_batch():
    """The whole load in one transaction: the approvals take the delta table, the rebuild at the end the
    household table, so the command holds the household table first. A batch for a household of another
    district, holding it and then wanting the delta table, waits for the command or the command for it,
    never each for the other."""
    from .visits.test_sync import visit
    from .visits.test_writer_locks import _race

    admin = f.UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True)
    street = f.StreetFactory(district=f.DistrictFactory(code="440309"), code="440309001")
    community = f.CommunityFactory(street=street, code="440309001001")
    area = f.AreaFactory(grid=f.GridFactory(community=community, code="440309001001001"))
    h = f.HouseholdFactory(community=community, area=area, code="HX1")
    rollups.refresh([h.pk])
    got: dict = {}

    def batch() -> None:
        got["results"] = services.record_visits([visit("HX1", lon=h.point.x, lat=h.point.y)], actor=admin)

    # (60 s: were the command to take the household table only for its rebuild, it would wait there)
    errors = _race(h.pk, batch, lambda: call_command("load_demo_city", households=1500), seconds=60)
    assert errors == []
    assert [r.status for r in got["results"]] == ["created"]
    assert not any(recompute.differences().values())
