"""Every writer of household rows and of the rollups takes its locks in the order batches take theirs
(households, rows in id order, then the delta table), and the full recompute takes its snapshot only once
it holds every lock: races on real PostGIS, each party on its own connection (threads).

A deadlock race needs three sessions: a third one holds household HA1's row; a batch for HA1 and HB1
(rows locked in id order: HA1 first) queues for it; then the other writer starts. Were the writer to lock
HB1 (a later id) before HA1, the batch, once the third session lets go, would hold HA1 and wait for HB1
while the writer held HB1 and waited for HA1: PostgreSQL would find the cycle and fail one of them.

Deletions (households, areas, members) made by the admin, which send no signal for the rows they change in
bulk, must leave the rollups exact too."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.gis.geos import MultiPolygon
from django.db import connection, connections, transaction
from django.test import Client
from django.utils import timezone

from gridgov.gridding.models import GriddingPlan, PlanArea, PlanCell, PlanGrid
from gridgov.gridding.services import plan_approve
from gridgov.households.importers import import_households
from gridgov.households.models import Household
from gridgov.visits import recompute, rollups, services
from gridgov.visits.models import RollupDelta, Visit

from .test_state_locks import _run
from .test_sync import visit

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting() -> int:
    """Sessions of this database waiting for a lock (a row, a table, an advisory lock)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cur.fetchone()[0]


def _until(test: Callable[[], bool], seconds: float = 10) -> bool:
    for _ in range(int(seconds / 0.025)):
        if test():
            return True
        threading.Event().wait(0.025)
    return False


def _race(
    hold: int | str, first: Callable[[], None], second: Callable[[], None], seconds: float = 10
) -> list[BaseException]:
    """A session holds household `hold`'s row lock (or runs the statement `hold`: a LOCK); `first` starts
    and waits for it; `second` starts and waits too (within `seconds`); then the hold ends. Returns the
    errors of `first` and `second` (none: no deadlock)."""
    held, release = threading.Event(), threading.Event()
    done = [threading.Event(), threading.Event()]
    errors: list[BaseException] = []

    def holder() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cur:
                if isinstance(hold, str):
                    cur.execute(hold)
                else:
                    cur.execute("SELECT 1 FROM households_household WHERE id = %s FOR NO KEY UPDATE", [hold])
                held.set()
                release.wait(30)
        finally:
            held.set()
            connections.close_all()

    def party(run: Callable[[], None], finished: threading.Event) -> None:
        try:
            run()
        except BaseException as e:
            errors.append(e)
        finally:
            finished.set()
            connections.close_all()

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    held.wait(10)
    try:
        for i, run in enumerate((first, second)):
            threads.append(threading.Thread(target=party, args=(run, done[i])))
            threads[-1].start()
            waited = _until(lambda i=i: _waiting() >= i + 1 or done[i].is_set(), seconds)
            assert waited, "the party never waited"
            assert not done[i].is_set(), f"party {i + 1} did not wait for the hold: {errors}"
    finally:
        release.set()
        for t in threads:
            t.join(timeout=60)
    return errors


def _batch(world, got: dict, codes: tuple[str, ...] = ("HA1", "HB1")) -> Callable[[], None]:
    when = (timezone.now() - timedelta(hours=1)).isoformat()

    def run() -> None:
        got["results"] = services.record_visits(
            [visit(code, device_time=when) for code in codes], actor=world.users["admin"]
        )

    return run


def _exact() -> None:
    rollups.fold()
    assert not any(recompute.differences().values())


@pytest.fixture
def known(world):
    """Every household has its state (the rollups know it); HA1's row is moved to the end of the table, so
    that a scan of the table meets HB1 before it (a writer locking rows in scan order locks HB1 first)."""
    rollups.refresh(Household.objects.values_list("id", flat=True))
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE households_household SET residents = residents WHERE id = %s", [world.household_a.pk]
        )
        cur.execute("SELECT code FROM households_household")
        assert [c for (c,) in cur.fetchall()][-1] == "HA1"
    return world


def test_an_import_updating_households_does_not_deadlock_with_a_batch(known, tmp_path: Path):
    world = known
    path = tmp_path / "ledger.csv"
    hb, ha = world.household_b.point, world.household_a.point
    path.write_text(  # HB1 first: the UPDATE meets it first whichever side it scans
        "code,community_code,lon,lat,area_code,key_groups\n"
        f"HB1,{world.community.code},{hb.x:.6f},{hb.y:.6f},{world.area_b.code},elderly_alone\n"
        f"HA1,{world.community.code},{ha.x:.6f},{ha.y:.6f},{world.area_a.code},disabled\n"
    )
    got: dict = {}
    errors = _race(world.household_a.pk, _batch(world, got), lambda: import_households(path))
    assert errors == []
    assert [r.status for r in got["results"]] == ["created", "created"]
    assert sorted(Household.objects.values_list("key_groups", flat=True)) == [
        [],
        [],
        ["disabled"],
        ["elderly_alone"],
    ]
    _exact()


def test_a_deactivating_import_does_not_deadlock_with_a_batch(known, tmp_path: Path):
    world = known
    path = tmp_path / "ledger.csv"
    hb = world.household_b.point
    path.write_text(
        "code,community_code,lon,lat,area_code,active\n"
        f"HB1,{world.community.code},{hb.x:.6f},{hb.y:.6f},{world.area_b.code},0\n"
        f"HA1,{world.community.code},{world.household_a.point.x:.6f},{world.household_a.point.y:.6f},"
        f"{world.area_a.code},0\n"
    )
    got: dict = {}
    errors = _race(world.household_a.pk, _batch(world, got), lambda: import_households(path))
    assert errors == []
    assert not Household.objects.filter(code__in=["HA1", "HB1"], active=True).exists()
    _exact()


def _draft(world, cells: dict) -> GriddingPlan:
    """A draft for community C with the grids as they are and `cells`: area → the households of its one
    cell (the area's outline)."""
    plan = GriddingPlan.objects.create(community=world.community)
    grids = {
        g.pk: PlanGrid.objects.create(plan=plan, code=g.code, boundary=MultiPolygon(g.boundary))
        for g in (world.grid_a, world.grid_b)
    }
    for area, households in cells.items():
        pa = PlanArea.objects.create(
            plan=plan,
            grid=grids[area.grid_id],
            code=area.code,
            boundary=MultiPolygon(area.boundary),
            member_id=area.member_id,
        )
        PlanCell.objects.create(
            plan=plan, area=pa, household_ids=[h.pk for h in households], boundary=MultiPolygon(area.boundary)
        )
    return plan


def _swapping_plan(world) -> GriddingPlan:
    """A draft for community C with its areas as they are, but HB1 in the first area (by code) and HA1 in
    the last: approval writes the households area by area, HB1 before HA1."""
    return _draft(
        world,
        {
            world.area_a: [world.household_b],
            world.area_a2: [world.household_a2],
            world.area_b: [world.household_a],
        },
    )


def test_a_gridding_approval_does_not_deadlock_with_a_batch(known):
    world = known
    plan = _swapping_plan(world)
    got: dict = {}
    errors = _race(world.household_a.pk, _batch(world, got), lambda: plan_approve(plan=plan, actor=None))
    assert errors == []
    assert [r.status for r in got["results"]] == ["created", "created"]
    assert Household.objects.get(code="HA1").area_id == world.area_b.pk
    _exact()


def test_a_reassignment_does_not_deadlock_with_a_batch(known):
    """HA1 is in area A already (left as it is), HA2 moves there: the reassignment must not lock HA2 and
    then HA1 (its rollups refresh locks every household named)."""
    world = known
    got: dict = {}

    def reassign() -> None:
        services.households_reassign(
            codes=["HA1", "HA2"], area_code=world.area_a.code, actor=world.users["admin"]
        )

    errors = _race(world.household_a.pk, _batch(world, got, ("HA1", "HA2")), reassign)
    assert errors == []
    assert Household.objects.get(code="HA2").area_id == world.area_a.pk
    _exact()


def test_a_rebuild_waiting_for_a_fold_reads_what_the_fold_committed(known):
    """A fold holds its locks (its deltas moved, not committed) when a rebuild starts: the rebuild must take
    its snapshot after the fold commits, else its own fold and derivation read the deltas the other moved
    (a serialization failure in REPEATABLE READ, or rows counted twice)."""
    world = known
    services.record_visits([visit("HA1"), visit("HB1")], actor=world.users["admin"])
    assert RollupDelta.objects.exists()
    ready = threading.Event()
    got: dict = {}

    def rebuild() -> None:
        got["repaired"] = recompute.rebuild()

    out = _run(rollups.fold, rebuild, ready)
    assert out["errors"] == [] and out["waited"] is True
    assert not any(got["repaired"].values())  # nothing to repair: the upkeep was right
    assert not RollupDelta.objects.exists() and Visit.objects.filter(counted=True).exists()
    _exact()


def _dropping_plan(world) -> GriddingPlan:
    """A draft for community C without area A2: HA2 joins area A."""
    return _draft(
        world, {world.area_a: [world.household_a, world.household_a2], world.area_b: [world.household_b]}
    )


def test_an_approval_deleting_an_area_with_pending_deltas(known):
    """HA2's visit left a delta of area A2, not folded yet, when an approval deletes A2: the approval
    must fold it before the area and its rollup rows go (folded afterwards, it would write a rollup row of
    a deleted area, and the approval would fail on its foreign key)."""
    world = known
    when = (timezone.now() - timedelta(hours=1)).isoformat()
    ha2 = world.household_a2.point
    results = services.record_visits(
        [visit("HA2", device_time=when, lon=ha2.x, lat=ha2.y)], actor=world.users["admin"]
    )
    assert [(r.status, r.flags) for r in results] == [("created", [])]
    assert RollupDelta.objects.filter(area_id=world.area_a2.pk).exists()
    plan_approve(plan=_dropping_plan(world), actor=None)
    assert Household.objects.get(code="HA2").area_id == world.area_a.pk
    _exact()


# Deletions: the admin deletes households one at a time or in bulk, and areas (a grid's with it).


def _admin(world) -> Client:
    c = Client()
    c.force_login(world.users["admin"])
    return c


def test_households_deleted_in_the_admin_leave_the_rollups(known):
    world = known
    bulk = {"action": "delete_selected", "_selected_action": [world.household_b.pk], "post": "yes"}
    assert _admin(world).post("/admin/households/household/", bulk).status_code == 302
    url = f"/admin/households/household/{world.household_a2.pk}/delete/"
    assert _admin(world).post(url, {"post": "yes"}).status_code == 302
    assert set(Household.objects.values_list("code", flat=True)) == {"HA1", "HD1"}
    assert not any(recompute.differences().values())


def test_an_area_deleted_in_the_admin_leaves_the_nodes_exact(known):
    """Area A2 (of a community not gridded yet) goes with HA2's visit pending as a delta: the deletion
    folds it first (else its fold would write a rollup row of the deleted area: the deletion would fail on
    the foreign key), and HA2, left without an area, leaves the nodes above."""
    world = known
    ha2 = world.household_a2.point
    results = services.record_visits([visit("HA2", lon=ha2.x, lat=ha2.y)], actor=world.users["admin"])
    assert [(r.status, r.flags) for r in results] == [("created", [])]
    url = f"/admin/geo/responsibilityarea/{world.area_a2.pk}/delete/"
    assert _admin(world).post(url, {"post": "yes"}).status_code == 302
    assert Household.objects.get(code="HA2").area_id is None
    _exact()


def test_an_import_adding_a_household_does_not_deadlock_with_an_approval(known, tmp_path: Path):
    """The import holds HA1 (updated) and then inserts a household of community C, whose foreign key
    check takes a key-share lock on C's row; the approval locks C's row (to update it), then C's households.
    Were the approval's lock on C's row exclusive of key-share locks, each would wait for the other."""
    world = known
    path = tmp_path / "ledger.csv"
    ha = world.household_a.point
    path.write_text(
        "code,community_code,lon,lat,area_code,key_groups,active\n"
        f"HA1,{world.community.code},{ha.x:.6f},{ha.y:.6f},{world.area_a.code},disabled,1\n"
        f"HN1,{world.community.code},{ha.x:.6f},{ha.y:.6f},,,0\n"
    )
    plan = _swapping_plan(world)
    errors = _race(
        world.household_a.pk, lambda: import_households(path), lambda: plan_approve(plan=plan, actor=None)
    )
    assert errors == []
    assert Household.objects.get(code="HA1").area_id == world.area_b.pk
    assert Household.objects.filter(code="HN1", active=False).exists()
    _exact()


def test_a_member_deleted_in_the_admin_leaves_the_dashboard_rows_exact(known):
    """Member A's area is left without a member (a bulk update of the deletion, no signal): its dashboard
    row, member A's and the row of the areas without a member are derived again."""
    world = known
    rollups.fold()
    url = f"/admin/teams/member/{world.member_a.pk}/delete/"
    assert _admin(world).post(url, {"post": "yes"}).status_code == 302
    world.area_a.refresh_from_db()
    assert world.area_a.member_id is None
    _exact()
