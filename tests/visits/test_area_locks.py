"""An admin's change of an area and a gridding approval of its community, at once: both take the locks in
the order of every writer (households, the delta table, area rows), so neither waits for the other in a
cycle (real PostGIS, each party on its own connection).

The race: a third session holds the delta table (as a batch appending its deltas does); the approval,
holding the community's households, queues for it; then the admin's change of area B queues too. Were the
admin to write B's row before taking the delta table (and the approval to take the table before writing
its areas' rows), the approval, once the third session lets go, would hold the table and wait for B's row
while the admin held B's row and waited for the table."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from django.test import Client

from gridgov.gridding.models import PlanArea
from gridgov.gridding.services import plan_approve
from gridgov.households.models import Household
from gridgov.visits import rollups, services

from .test_sync import visit
from .test_writer_locks import _draft, _exact, _race

pytestmark = pytest.mark.django_db(transaction=True)


def _race_on_deltas(first: Callable[[], None], second: Callable[[], None]) -> list[BaseException]:
    """A session holds the delta table (row exclusive: a batch's append); `first` starts and waits for it;
    `second` starts and waits too; then the hold ends. Returns the errors (none: no deadlock)."""
    return _race("LOCK TABLE visits_rollupdelta IN ROW EXCLUSIVE MODE", first, second)


@pytest.fixture
def kept(world):
    rollups.refresh(Household.objects.values_list("id", flat=True))
    services.record_visits([visit("HA1"), visit("HB1")], actor=world.users["admin"])
    rollups.fold()
    return world


def test_an_admin_changing_an_areas_member_during_an_approval(kept):
    """The plan takes area A's member away (its dashboard row changes hands: the approval's upkeep of A
    needs the delta table) and keeps area B's; meanwhile the admin gives B to member A."""
    world = kept
    plan = _draft(
        world,
        {
            world.area_a: [world.household_a],
            world.area_a2: [world.household_a2],
            world.area_b: [world.household_b],
        },
    )
    PlanArea.objects.filter(plan=plan, code=world.area_a.code).update(member=None)

    def admin() -> None:
        area = type(world.area_b).objects.get(pk=world.area_b.pk)
        area.member = world.member_a
        with transaction.atomic():
            area.save()

    errors = _race_on_deltas(lambda: plan_approve(plan=plan, actor=None), admin)
    assert errors == []
    assert type(world.area_b).objects.get(pk=world.area_b.pk).member_id == world.member_a.pk
    assert type(world.area_a).objects.get(pk=world.area_a.pk).member_id is None
    _exact()


def test_areas_deleted_in_bulk_do_not_deadlock_with_a_batch(kept):
    """The admin deletes areas A and A2 in one go while a batch for HA2 waits for its row: the deletion
    must lock HA1 and HA2 before the delta table (were it to lock A2's households after taking the table
    for A, the batch, holding HA2, would wait for the table while the deletion waited for HA2)."""
    world = kept
    ha2 = world.household_a2.point
    got: dict = {}

    def batch() -> None:
        got["results"] = services.record_visits(
            [visit("HA2", lon=ha2.x, lat=ha2.y)], actor=world.users["admin"]
        )

    def delete() -> None:
        bulk = {"action": "delete_selected", "_selected_action": [world.area_a.pk, world.area_a2.pk]}
        client = Client()
        client.force_login(world.users["admin"])
        assert client.post("/admin/geo/responsibilityarea/", {**bulk, "post": "yes"}).status_code == 302

    errors = _race(world.household_a2.pk, batch, delete)
    assert errors == []
    assert [r.status for r in got["results"]] == ["created"]
    assert not type(world.area_a).objects.filter(pk__in=[world.area_a.pk, world.area_a2.pk]).exists()
    _exact()
