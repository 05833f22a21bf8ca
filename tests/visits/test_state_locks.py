"""The policy state on the household row, and the row lock a batch holds on it, serialize a batch with what
changes a state (a household edit and its `rollups.refresh`, a policy change and its `recompute.rebuild`):
two connections on real PostGIS, one held open while the other must wait; the rollups agree with a
rebuild afterwards, and neither side fails."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from gridgov.households.models import Household
from gridgov.visits import periods, recompute, rollups, services
from gridgov.visits.models import AreaPeriodRollup, Visit, VisitPolicy

from .test_sync import HA_LON, visit

pytestmark = pytest.mark.django_db(transaction=True)


def _someone_waits() -> bool:
    """Whether a session of this database waits for a lock (a row, a table, an advisory lock)."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")  # (else the same view all through a transaction)
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cur.fetchone()[0] > 0


def _hold_until_the_other_waits(done: threading.Event) -> bool:
    """In the first transaction, still open: wait until the other session waits for a lock (True), or has
    finished without waiting (False)."""
    for _ in range(400):
        if _someone_waits():
            return True
        if done.wait(0.025):
            return False
    return False


def _run(first: Callable[[], None], second: Callable[[], None], ready: threading.Event) -> dict:
    """`first` in a transaction held open (after it sets `ready`) until `second`, started once `ready` is
    set, waits for a lock; then `first` commits. Returns whether `second` waited, and any error."""
    done = threading.Event()
    out: dict = {"errors": []}

    def one() -> None:
        try:
            with transaction.atomic():
                first()
                ready.set()
                out["waited"] = _hold_until_the_other_waits(done)
        except BaseException as e:
            out["errors"].append(e)
        finally:
            ready.set()
            connections.close_all()

    def two() -> None:
        try:
            ready.wait(10)
            second()
        except BaseException as e:
            out["errors"].append(e)
        finally:
            done.set()
            connections.close_all()

    threads = [threading.Thread(target=one), threading.Thread(target=two)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def _move_and_tag(world) -> None:
    """A household edit: HA1 moves to area B and becomes a key service target (monthly policy)."""
    household = Household.objects.get(pk=world.household_a.pk)
    household.area = world.area_b
    household.key_groups = ["elderly_alone"]
    household.save()  # its rollups refresh (signal)


def _done_rows() -> set[tuple]:
    rollups.fold()
    return set(AreaPeriodRollup.objects.values_list("area_id", "kind", "period_start", "done"))


@pytest.fixture
def known(world):
    """Every household has its state (the rollups know it) before the race."""
    rollups.refresh(Household.objects.values_list("id", flat=True))
    return world


def test_a_batch_waits_for_a_household_edit_and_counts_under_the_new_state(known):
    world = known
    when = timezone.now() - timedelta(hours=1)
    ready = threading.Event()
    got: dict = {}

    def batch() -> None:
        got["results"] = services.record_visits(
            [visit(device_time=when.isoformat())], actor=world.users["admin"]
        )

    out = _run(lambda: _move_and_tag(world), batch, ready)
    assert out["errors"] == [] and out["waited"] is True
    assert [r.status for r in got["results"]] == ["created"] and Visit.objects.get().counted
    # Counted under the state the edit committed (area B, monthly), not the one before (area A, quarterly).
    month = periods.window("month", timezone.localdate(when)).start
    assert _done_rows() == {(world.area_b.pk, "month", month, 1)}
    assert not any(recompute.differences().values())


def test_a_household_edit_waits_for_a_batch_and_moves_its_visit(known):
    world = known
    when = timezone.now() - timedelta(hours=1)
    ready = threading.Event()
    got: dict = {}

    def batch() -> None:
        got["results"] = services.record_visits(
            [visit(device_time=when.isoformat())], actor=world.users["admin"]
        )

    out = _run(batch, lambda: _move_and_tag(world), ready)
    assert out["errors"] == [] and out["waited"] is True
    assert [r.status for r in got["results"]] == ["created"]
    # The batch counted HA1 in area A (quarterly); the edit, after it, folded that and moved the household:
    # area A lost it, area B has it (monthly).
    month = periods.window("month", timezone.localdate(when)).start
    assert _done_rows() == {(world.area_b.pk, "month", month, 1)}
    assert not any(recompute.differences().values())


def test_a_policy_change_waits_for_a_batch_that_has_locked_its_households(known, monkeypatch):
    """The batch has locked HA1 (its resolving statement) and not yet stored its visits (the statement that
    appends the deltas) when a policy changes: the rebuild that follows must change HA1's state. It waits
    for the batch (the household table's lock) before it holds off the deltas; were it to take the delta
    table first, it would wait for HA1's row while the batch waited for the delta table (a deadlock: one
    of them would fail)."""
    world = known
    when = timezone.now() - timedelta(hours=1)
    ready, resolved = threading.Event(), threading.Event()
    verify = services._verify
    got: dict = {}

    def paused_verify(*args, **kwargs) -> bool:  # between the resolving statement and the insert
        resolved.set()
        ready.set()
        _hold_until_the_other_waits(threading.Event())
        return verify(*args, **kwargs)

    monkeypatch.setattr(services, "_verify", paused_verify)

    def batch() -> None:
        got["results"] = services.record_visits(
            [visit(device_time=when.isoformat())], actor=world.users["admin"]
        )

    def policy_change() -> None:
        resolved.wait(10)
        default = VisitPolicy.objects.get(key_group="", active=True)
        default.visits_per_period = 2  # every household without a key group now needs two a quarter
        default.save()  # the rebuild (signal)

    out = _run(batch, policy_change, ready)
    assert out["errors"] == [] and out["waited"] is True
    assert [r.status for r in got["results"]] == ["created"]
    with connection.cursor() as cur:
        cur.execute("SELECT visits_need FROM households_household WHERE id = %s", [world.household_a.pk])
        assert cur.fetchone()[0] == 2
    assert _done_rows() == set()  # one visit of two
    assert not any(recompute.differences().values())


def _two_member_batches(world, first: list[dict], second: list[dict]) -> tuple[dict, dict]:
    """Member A's batch `first`, then a second batch `second` of member A from another phone while the first
    holds its locks; returns `_run`'s outcome and the two batches' results ("first", "second")."""
    member = world.users["member_a"]
    got: dict = {}

    def one() -> None:
        got["first"] = services.record_visits(first, actor=member)

    def two() -> None:
        got["second"] = services.record_visits(second, actor=member)

    return _run(one, two, threading.Event()), got


def test_a_batch_that_waited_sees_the_visit_the_other_batch_committed_within_the_window(known):
    """Two batches for one household an hour apart (inside the repeat window): the second waits for the
    first's row lock, and what it reads after the wait (the household's last counted visit) must include
    the first's visit: the second is flagged as a repeat and not counted; read with the snapshot taken
    before the wait, both would have escaped the flag."""
    world = known
    when = timezone.now() - timedelta(hours=3)
    later = (when + timedelta(hours=1)).isoformat()
    out, got = _two_member_batches(world, [visit(device_time=when.isoformat())], [visit(device_time=later)])
    assert out["errors"] == [] and out["waited"] is True
    assert [r.flags for r in got["first"]] == [[]]
    assert [(r.status, r.flags) for r in got["second"]] == [("created", ["repeat_visit"])]
    assert Visit.objects.filter(counted=True).count() == 1
    quarter = periods.window("quarter", timezone.localdate(when)).start
    assert _done_rows() == {(world.area_a.pk, "quarter", quarter, 1)}
    assert not any(recompute.differences().values())


def _member_batch_during_a_move(world, area, actor: str) -> tuple[dict, list]:
    """Member A's batch of one visit to HA1 (an hour ago), waiting for the row lock of `actor` moving HA1
    to `area`; returns `_run`'s outcome and the batch's results."""
    when = timezone.now() - timedelta(hours=1)
    got: dict = {}

    def reassign() -> None:
        services.households_reassign(codes=["HA1"], area_code=area.code, actor=world.users[actor])

    def batch() -> None:
        got["results"] = services.record_visits(
            [visit(device_time=when.isoformat())], actor=world.users["member_a"]
        )

    out = _run(reassign, batch, threading.Event())
    return out, got.get("results", [])


def test_a_batch_that_waited_for_a_reassignment_judges_the_visit_by_the_new_area(known):
    """A leader moves HA1 out of member A's area while member A's batch for it waits for the row lock: the
    batch must check the assignment against the area the household is in once it has the lock (flagged
    outside the member's areas, not counted), and count it nowhere."""
    out, results = _member_batch_during_a_move(known, known.area_a2, "leader_a")
    assert out["errors"] == [] and out["waited"] is True
    assert [(r.status, r.flags) for r in results] == [("created", ["outside_assignment"])]
    assert not Visit.objects.get().counted
    assert _done_rows() == set()
    assert not any(recompute.differences().values())


def test_a_batch_that_waited_for_a_move_to_another_area_of_the_member_counts_it_there(known):
    """A leader moves HA1 to another area of member A (A2, given to member A here) while member A's batch
    for it waits for the row lock: the household row is read as the move committed it, and so is the member
    of its new area (not the area row as read before the wait, which no longer joins it): stored unflagged,
    counted in area A2."""
    world = known
    world.area_a2.member = world.member_a
    world.area_a2.save()
    when = timezone.now() - timedelta(hours=1)
    out, results = _member_batch_during_a_move(world, world.area_a2, "leader_a")
    assert out["errors"] == [] and out["waited"] is True
    assert [(r.status, r.flags) for r in results] == [("created", [])]
    assert Visit.objects.get().counted
    quarter = periods.window("quarter", timezone.localdate(when)).start
    assert _done_rows() == {(world.area_a2.pk, "quarter", quarter, 1)}
    assert not any(recompute.differences().values())


def test_a_batch_that_waited_for_a_move_out_of_the_members_grid_is_refused(known):
    """The administrator moves HA1 to grid B while member A's batch for it waits for the row lock: checked
    against the household as the move committed it, it is no longer one member A may visit (the item's
    error, nothing stored); the member can send it again, or the visit is entered by someone in scope."""
    out, results = _member_batch_during_a_move(known, known.area_b, "admin")
    assert out["errors"] == [] and out["waited"] is True
    assert [(r.status, list(r.errors)) for r in results] == [("error", ["household"])]
    assert not Visit.objects.exists()
    assert not any(recompute.differences().values())


def test_two_batches_of_one_member_see_each_others_fixes_for_the_speed_check(known):
    """Member A syncs from two phones at once: one batch has a visit 30 km away (a fix far from HA1), the
    other, for another household (HA2: no household lock in common), a visit a minute later at HA2. The
    second must wait for the first (the member's lock) and read the member's previous located visit after
    the wait: 30 km in a minute is flagged; read with the snapshot taken before the wait, or without
    waiting, it would not see the first batch's visit."""
    world = known
    when = timezone.now() - timedelta(hours=3)
    far = visit(lon=HA_LON + 0.3, device_time=when.isoformat())
    later = (when + timedelta(minutes=1)).isoformat()
    ha2 = visit(household="HA2", lon=world.household_a2.point.x, lat=world.household_a2.point.y)
    out, got = _two_member_batches(world, [far], [{**ha2, "device_time": later}])
    assert out["errors"] == [] and out["waited"] is True
    assert [(r.status, r.flags) for r in got["first"]] == [("created", ["far_from_building"])]
    assert [(r.status, r.flags) for r in got["second"]] == [
        ("created", ["implausible_speed", "outside_assignment"])
    ]
    stored = Visit.objects.get(household=world.household_a2)
    assert stored.flags == ["implausible_speed", "outside_assignment"] and not stored.counted
    assert not any(recompute.differences().values())


@pytest.mark.parametrize("later_first", [True, False])
def test_two_batches_of_one_member_check_each_other_whatever_order_they_commit(known, later_first):
    """Two phones of member A sync at once: one a visit at HA1, the other a visit at HA2 (514 m away) ten
    seconds before it, device time. Whichever commits second waits for the member's lock and is checked
    against the other's visit, stored by then, before or after it in the member's track: that one is
    flagged (51 m/s), the first is not. (The later visit committing first fails on main: the earlier one,
    synced second, was checked only against a visit before it.)"""
    world = known
    when = timezone.now() - timedelta(hours=3)
    ha1 = visit(device_time=when.isoformat())
    ha2 = visit(
        household="HA2",
        lon=world.household_a2.point.x,
        lat=world.household_a2.point.y,
        device_time=(when - timedelta(seconds=10)).isoformat(),
    )
    first, second = (ha1, ha2) if later_first else (ha2, ha1)
    out, got = _two_member_batches(world, [first], [second])
    assert out["errors"] == [] and out["waited"] is True
    assert [("implausible_speed" in r.flags) for r in got["first"] + got["second"]] == [False, True]
    assert "implausible_speed" in Visit.objects.get(pk=second["id"]).flags
    assert "implausible_speed" not in Visit.objects.get(pk=first["id"]).flags
    assert not any(recompute.differences().values())
