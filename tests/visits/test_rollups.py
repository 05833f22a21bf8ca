"""The compliance rollups kept as visits arrive agree exactly with a rebuild from the visits."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridgov.visits import dashboards, recompute, rollups
from gridgov.visits.models import Visit
from gridgov.visits.selectors import compliance

from .test_sync import HA_LON, client, sync, visit

pytestmark = pytest.mark.django_db
SAME = dict.fromkeys(recompute.CHECKED, 0)  # every kept table (and the marks) agrees with a rebuild


def policy_states() -> set[tuple]:
    """The policy states kept on the households' rows: (household, area, kind, need)."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT household_id, area_id, kind, need FROM {rollups.STATES} s")
        return set(cur.fetchall())


def test_incremental_rollups_agree_with_a_rebuild(world):
    member = client(world, "member_a")
    now = timezone.now()
    # Counted, flagged (not counted until approved), several periods, two households.
    sync(
        member,
        [
            visit(device_time=(now - timedelta(hours=2)).isoformat()),
            visit(device_time=(now - timedelta(days=40)).isoformat()),
            visit(device_time=(now - timedelta(days=200)).isoformat()),
            visit(household="HA2", lon=HA_LON + 0.005, device_time=(now - timedelta(hours=5)).isoformat()),
            visit(lon=HA_LON + 0.02, device_time=(now - timedelta(days=100)).isoformat()),  # far: flagged
        ],
    )
    flagged = Visit.objects.filter(review="pending")
    assert flagged.count() == 2
    leader = client(world, "leader_a")
    for v in flagged:
        leader.post(
            f"/api/v1/visits/review/{v.pk}/", {"decision": "approve"}, content_type="application/json"
        )
    # A household moves to another area, and another becomes a key service target.
    leader.post(
        "/api/v1/visits/reassign/",
        {"households": ["HA2"], "area": world.area_a.code},
        content_type="application/json",
    )
    world.household_b.key_groups = ["elderly_alone"]
    world.household_b.save()
    kept = rollups.snapshot()
    assert kept["rollups"] and kept["totals"]
    recompute.rebuild()
    assert rollups.snapshot() == kept
    call_command("visits_rollups", "--check")


def test_dashboard_from_rollups_matches_the_query_over_visits(world):
    sync(client(world, "member_a"), [visit()])
    staff = world.users["community"]
    today = timezone.localdate()
    from_query = {r["key"]: (r["households"], r["done"]) for r in compliance(staff, "grid", today)}
    rows = dashboards.dashboard("grid", today, [world.community.code])
    from_rollups = {r["key"]: (r["households"], r["done"]) for r in rows}
    assert from_rollups == from_query
    api = client(world, "community").get("/api/v1/visits/compliance/?level=grid").json()["rows"]
    assert {r["key"]: r["done"] for r in api} == {world.grid_a.code: 1, world.grid_b.code: 0}


def test_check_command_detects_drift(world):
    from django.core.management import CommandError

    from gridgov.visits.models import AreaPeriodRollup

    sync(client(world, "member_a"), [visit()])
    assert rollups.fold() == 1  # the visit's delta, now in the area and node rows
    assert AreaPeriodRollup.objects.update(done=7) == 1
    with pytest.raises(CommandError):
        call_command("visits_rollups", "--check")
    call_command("visits_rollups")
    call_command("visits_rollups", "--check")


def test_member_level_from_rollups(world):
    sync(client(world, "member_a"), [visit()])
    rows = client(world, "leader_a").get("/api/v1/visits/compliance/?level=member").json()["rows"]
    by_member = {r["key"]: (r["households"], r["done"]) for r in rows}
    assert by_member[str(world.member_a.pk)] == (1, 1)


def test_compliance_of_a_past_period(world):
    last_year = timezone.now() - timedelta(days=400)
    sync(client(world, "member_a"), [visit(device_time=last_year.isoformat())])
    c = client(world, "community")
    day = timezone.localtime(last_year).date().isoformat()
    then = {
        r["key"]: r["done"] for r in c.get(f"/api/v1/visits/compliance/?level=grid&day={day}").json()["rows"]
    }
    now = {r["key"]: r["done"] for r in c.get("/api/v1/visits/compliance/?level=grid").json()["rows"]}
    assert then[world.grid_a.code] == 1 and now[world.grid_a.code] == 0
    assert c.get("/api/v1/visits/compliance/?level=grid&day=2026-13-40").status_code == 400


def test_a_member_with_two_areas_gets_one_row(world):
    world.area_a2.member = world.member_a
    world.area_a2.save()
    sync(client(world, "member_a"), [visit()])
    rows = client(world, "member_a").get("/api/v1/visits/compliance/?level=member").json()["rows"]
    assert [(r["key"], r["households"], r["done"]) for r in rows] == [(str(world.member_a.pk), 2, 1)]
    grid = client(world, "member_a").get("/api/v1/visits/compliance/?level=grid").json()["rows"]
    assert [(r["key"], r["households"]) for r in grid] == [(world.grid_a.code, 2)]


def test_policy_states_in_sql_follow_the_strictest_policy(world):
    """The SQL that derives each household's policy picks what `periods.strictest` picks."""
    from itertools import combinations

    from gridgov.households.models import Household, KeyGroup
    from gridgov.visits.models import VisitPolicy
    from gridgov.visits.periods import strictest

    for name, group, period, n, active in [
        ("disabled, twice a month", "disabled", "month", 2, True),
        ("floating, 3 a year", "floating", "year", 3, True),
        ("off", "low_income", "month", 9, False),
    ]:
        VisitPolicy.objects.create(
            name=name, key_group=group, period=period, visits_per_period=n, active=active
        )
    groups = list(KeyGroup.values)
    combos = [[]] + [list(c) for n in (1, 2) for c in combinations(groups, n)]
    households = list(Household.objects.filter(active=True))
    policies = list(VisitPolicy.objects.filter(active=True))
    for key_groups in combos:
        for h in households:
            h.key_groups = key_groups
        Household.objects.bulk_update(households, ["key_groups"])
        rollups.refresh_states()
        expected = strictest(key_groups, policies)
        states = {(kind, need) for _h, _a, kind, need in policy_states()}
        assert states == {(expected.period, expected.visits_per_period)}, key_groups
    # With no active policy at all, the default: once a quarter.
    VisitPolicy.objects.update(active=False)
    rollups.refresh_states()
    assert {(kind, need) for _h, _a, kind, need in policy_states()} == {("quarter", 1)}


def test_differences_counts_rows_and_leaves_the_kept_state(world):
    sync(client(world, "member_a"), [visit()])
    same = SAME
    assert recompute.differences() == same
    kept = rollups.snapshot()
    # The visit stops counting behind the upkeep's back: its area's row and the four above differ, and
    # the dashboard rows of the area, its member and its four nodes.
    Visit.objects.update(counted=False, review="rejected")
    assert recompute.differences() == same | {"rollups": 1, "node_rollups": 4, "dashboard": 6}
    assert rollups.snapshot() == kept


def test_rebuild_writes_only_what_differs_and_repairs_it(world):
    from gridgov.visits.models import AreaPeriodRollup, NodePeriodRollup

    sync(client(world, "member_a"), [visit(), visit(household="HA2", lon=HA_LON + 0.005)])
    kept = rollups.snapshot()
    same = SAME
    assert recompute.rebuild() == same
    # HA2 lies outside member_a's own area: that visit is flagged, so only area A has a rollup row, and
    # its grid, community, street and district one each.
    assert sorted(len(c) for c, _k, _p, _d in kept["node_rollups"]) == [6, 9, 12, 15]
    AreaPeriodRollup.objects.update(done=9)
    AreaPeriodRollup.objects.create(area=world.area_b, kind="year", period_start="2020-01-01", done=3)
    NodePeriodRollup.objects.update(done=4)
    repaired = recompute.rebuild()
    assert repaired == same | {"rollups": 2, "node_rollups": 4}
    assert rollups.snapshot() == kept


def test_node_rows_answer_what_the_area_rows_sum_to(world):
    """Dashboards above the area read a row per node; the figures are those of the summed area rows."""
    member = client(world, "member_a")
    sync(member, [visit(), visit(household="HA2", lon=HA_LON + 0.005)])
    world.area_a2.member = world.member_a
    world.area_a2.save()
    world.household_a2.save()  # refreshes its rollups (no new area: the member of its area changed)
    sync(member, [visit(household="HA2", lon=HA_LON + 0.005, device_time=timezone.now().isoformat())])
    today = timezone.localdate()
    street = world.community.code[:9]
    for prefixes in ([""], [street], [world.community.code], [world.grid_a.code], [world.area_a.code]):
        for level in ("grid", "community", "street"):
            by_nodes = dashboards.dashboard(level, today, prefixes)
            by_areas = dashboards.dashboard(level, today, prefixes, nodes=False)
            assert by_nodes == by_areas, (prefixes, level)
    rows = dashboards.dashboard("grid", today, [world.community.code])
    assert dashboards.dashboard("grid", today, world.community.code) == rows  # a prefix, not its characters
    assert [(r["key"], r["households"], r["done"]) for r in rows] == [
        (world.grid_a.code, 2, 2),
        (world.grid_b.code, 1, 0),
    ]


def test_upkeep_appends_deltas_that_reads_and_checks_include_until_folded(world):
    from gridgov.visits.models import AreaPeriodRollup, NodePeriodRollup, RollupDelta

    sync(client(world, "member_a"), [visit(), visit(household="HA2", lon=HA_LON + 0.005)])
    today = timezone.localdate()
    same = SAME
    # The batch wrote no shared row: one delta (area A: HA2's visit is flagged), no rollup row yet.
    assert RollupDelta.objects.count() == 1
    assert not AreaPeriodRollup.objects.exists() and not NodePeriodRollup.objects.exists()
    pending = {
        lv: dashboards.dashboard(lv, today) for lv in ("area", "member", "grid", "community", "street")
    }
    assert [(r["key"], r["done"]) for r in pending["grid"] if r["done"]] == [(world.grid_a.code, 1)]
    assert recompute.differences() == same
    kept = rollups.snapshot()
    assert rollups.fold() == 1 and rollups.fold() == 0
    assert not RollupDelta.objects.exists()
    assert AreaPeriodRollup.objects.get().done == 1 and NodePeriodRollup.objects.count() == 4
    assert {lv: dashboards.dashboard(lv, today) for lv in pending} == pending
    assert rollups.snapshot() == kept and recompute.differences() == same
    # A wrong pending delta is a difference too (in the area row and its four nodes), and rebuild repairs it.
    RollupDelta.objects.create(area_id=world.area_b.pk, kind="quarter", period_start="2020-01-01", done=2)
    assert recompute.differences() == same | {"rollups": 1, "node_rollups": 4}
    assert recompute.rebuild() == same | {"rollups": 1, "node_rollups": 4}
    assert not RollupDelta.objects.exists() and rollups.snapshot() == kept


def test_refresh_folds_pending_deltas_first(world):
    """A household change re-derives its areas from the visits: the pending deltas of those areas must
    not be added again on top."""
    from gridgov.visits.models import RollupDelta

    sync(client(world, "member_a"), [visit()])
    assert RollupDelta.objects.count() == 1
    kept = rollups.snapshot()
    world.household_a.save()  # refreshes its rollups
    assert not RollupDelta.objects.exists()
    assert rollups.snapshot() == kept
    assert not any(recompute.differences().values())


def test_dashboard_pages_worst_first_with_count_and_total(world):
    sync(client(world, "member_a"), [visit()])
    today = timezone.localdate()
    everything = dashboards.dashboard("area", today)
    worst = dashboards.dashboard("area", today, order="worst")
    assert sorted(map(str, everything), key=str) == sorted(map(str, worst), key=str)
    shares = [r["share_done"] for r in worst if r["share_done"] is not None]
    assert shares == sorted(shares) and worst[-1]["key"] == world.area_a.code
    assert dashboards.dashboard("area", today, order="worst", limit=1, offset=len(worst) - 1) == worst[-1:]
    for level in ("area", "grid", "member", "community"):  # pages in key order: their keys picked first
        whole = dashboards.dashboard(level, today)
        paged = [r for k in range(len(whole)) for r in dashboards.dashboard(level, today, limit=1, offset=k)]
        assert paged == whole, level
    assert dashboards.dashboard_count("area") == len(everything)
    for level in ("grid", "member", "community"):
        assert dashboards.dashboard_count(level) == len(dashboards.dashboard(level, today))
    total = dashboards.summary(today)
    assert total["households"] == sum(r["households"] for r in everything) and total["done"] == 1
    assert dashboards.summary(today, [world.community.code])["done"] == 1
    assert dashboards.summary(today, [world.other_community.code])["done"] == 0
    # A member's scope is their area codes: summed in one statement, whatever their number.
    areas = [world.area_a.code, world.area_a2.code, world.area_b.code]
    with CaptureQueriesContext(connection) as q:
        mine = dashboards.summary(today, areas)
    assert len(q) == 1 and mine["done"] == 1
    assert mine["households"] == sum(r["households"] for r in everything if r["key"] in areas)
    api = client(world, "admin").get("/api/v1/visits/compliance/?level=area&order=worst&page_size=1").json()
    assert api["count"] == len(everything) and api["total"] == total and api["rows"] == worst[:1]
    page2 = client(world, "admin").get("/api/v1/visits/compliance/?level=area&order=worst&page_size=1&page=2")
    assert page2.json()["rows"] == worst[1:2]
    bad = client(world, "admin").get("/api/v1/visits/compliance/?level=area&order=best&page=0")
    assert bad.status_code == 400 and set(bad.json()) == {"order", "page"}


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_batches_for_one_household_count_its_crossing_once(world):
    """Two batches for the same household (once a quarter) overlap: the second runs while the first has
    stored its visit but not committed. The second must wait for the first (the household lock taken by
    its resolving statement) and then count the first's visit; without the lock both would see no visit
    before their own and both would count the household as done."""
    import threading

    from django.db import connection, connections, transaction

    from gridgov.visits import services
    from gridgov.visits.models import AreaPeriodRollup

    member = world.users["member_a"]
    times = ["2025-05-10T10:00:00+08:00", "2025-05-12T10:00:00+08:00"]  # one quarter, two days apart
    first_stored, second_done = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                outcome["first"] = services.record_visits([visit(device_time=times[0])], actor=member)
                first_stored.set()
                # Hold the transaction open until the second batch waits on a lock, or has finished.
                with connection.cursor() as cur:
                    for _ in range(200):
                        cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                        if cur.fetchone()[0] or second_done.wait(0.05):
                            break
        finally:
            first_stored.set()
            connections.close_all()

    def second() -> None:
        try:
            first_stored.wait(10)
            outcome["second"] = services.record_visits([visit(device_time=times[1])], actor=member)
        finally:
            second_done.set()
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert [r.status for name in ("first", "second") for r in outcome[name]] == ["created", "created"]
    assert Visit.objects.filter(counted=True).count() == 2
    rollups.fold()
    assert list(AreaPeriodRollup.objects.values_list("area_id", "kind", "period_start", "done")) == [
        (world.area_a.pk, "quarter", date(2025, 4, 1), 1)
    ]
    assert not any(recompute.differences().values())


def test_drifted_policy_states_are_found_and_repaired(world):
    sync(client(world, "member_a"), [visit()])
    kept = rollups.snapshot()
    states = policy_states()
    same = SAME
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE households_household SET visits_kind = NULL, visits_need = NULL, visits_area_id = NULL"
            " WHERE id = %s",
            [world.household_a.pk],
        )
        cur.execute("UPDATE households_household SET visits_need = 7 WHERE id = %s", [world.household_b.pk])
    # The rollups are derived from the states as they should be: only the two states differ.
    assert recompute.differences() == same | {"states": 2}
    assert len(policy_states()) == len(states) - 1  # nothing written
    assert recompute.rebuild() == same | {"states": 2}
    assert policy_states() == states
    assert rollups.snapshot() == kept


def test_refresh_after_areas_are_deleted_and_renumbered_stays_exact(world):
    """A gridding approval moves households to new areas with bulk updates (no signals), deletes the old
    areas (their rollup rows go with them) and then refreshes the community's households: the nodes above
    must lose what the deleted areas held and gain what the new ones hold."""
    from gridgov.geo.models import ResponsibilityArea
    from gridgov.households.models import Household

    sync(client(world, "member_a"), [visit()])  # HA1 has its visit of the quarter
    rollups.fold()
    same = SAME
    assert recompute.differences() == same
    other_before = dashboards.dashboard("grid", timezone.localdate(), [world.other_community.code])
    new = ResponsibilityArea.objects.create(
        grid=world.grid_b, code=world.grid_b.code + "02", boundary=world.grid_b.boundary
    )
    Household.objects.filter(pk__in=[world.household_a.pk, world.household_a2.pk]).update(area=new)
    ResponsibilityArea.objects.filter(pk__in=[world.area_a.pk, world.area_a2.pk]).delete()
    rollups.refresh(Household.objects.filter(community=world.community).values_list("id", flat=True))
    assert recompute.differences() == same
    today = timezone.localdate()
    grids = {r["key"]: (r["households"], r["done"]) for r in dashboards.dashboard("grid", today)}
    assert world.grid_a.code not in grids  # no area left: its rows are gone
    assert grids[world.grid_b.code] == (3, 1)  # HA1, HA2 moved in with HA1's visit
    assert dashboards.dashboard("grid", today, [world.other_community.code]) == other_before
    assert dashboards.summary(today)["households"] == 4
    # A household moving to another community: both communities and the nodes above change.
    area_d = ResponsibilityArea.objects.get(grid__community=world.other_community)
    moved = Household.objects.filter(pk=world.household_a.pk)
    other = world.household_other
    moved.update(area=area_d, community=world.other_community, point=other.point, building=other.building)
    rollups.refresh([world.household_a.pk])
    assert recompute.differences() == same
    grids = {r["key"]: (r["households"], r["done"]) for r in dashboards.dashboard("grid", today)}
    assert grids[world.grid_b.code] == (2, 0) and grids[area_d.code[:15]] == (2, 1)
    assert dashboards.summary(today) == {"households": 4, "done": 1, "share_done": 0.25}


def test_the_batch_statement_without_the_upkeep_stores_the_same_visits(world, monkeypatch):
    """`services.UPKEEP = False` (for measuring what the upkeep costs: no household locks, the batch's
    statement without the upkeep) stores a batch as the real statements do, and leaves the rollups alone."""
    from gridgov.visits import services

    monkeypatch.setattr(services, "UPKEEP", False)
    out = sync(client(world, "admin"), [visit(), visit(household="HA2", lon=HA_LON + 0.005)])
    assert [r["status"] for r in out["results"]] == ["created", "created"]
    assert Visit.objects.filter(counted=True).count() == 2
    assert not rollups.snapshot()["rollups"]


def _done() -> set[tuple]:
    """The area rollups as (area, kind, period start, done), the pending deltas folded."""
    from gridgov.visits.models import AreaPeriodRollup

    rollups.fold()
    return set(AreaPeriodRollup.objects.values_list("area_id", "kind", "period_start", "done"))


def _at(day: str) -> str:
    return f"{day}T10:00:00+08:00"


def test_a_late_visit_counts_in_its_own_period(world):
    """The household's latest counted visit is in a later period than the visit (a phone that synced late):
    whether that earlier period was done is counted, not taken from the latest visit."""
    admin = client(world, "admin")
    a = world.area_a.pk
    sync(admin, [visit(device_time=_at("2025-11-20"))])  # Q4: the first of its quarter
    sync(admin, [visit(device_time=_at("2025-05-10"))])  # late, Q2: the first of its quarter
    sync(admin, [visit(device_time=_at("2025-06-10"))])  # late, Q2 again: met already
    sync(admin, [visit(device_time=_at("2025-02-10")), visit(device_time=_at("2025-02-20"))])  # Q1: two
    assert _done() == {
        (a, "quarter", date(2025, 10, 1), 1),
        (a, "quarter", date(2025, 4, 1), 1),
        (a, "quarter", date(2025, 1, 1), 1),
    }
    assert not any(recompute.differences().values())


def test_the_second_batch_of_a_period_adds_nothing(world):
    """Two batches for one household in one period, one after the other: the second finds the first's
    visit as the household's latest counted one, inside the period (met already: no delta)."""
    from gridgov.visits.models import RollupDelta

    admin = client(world, "admin")
    sync(admin, [visit(device_time=_at("2025-05-10"))])
    assert RollupDelta.objects.count() == 1
    sync(admin, [visit(device_time=_at("2025-05-20")), visit(device_time=_at("2025-04-02"))])
    assert RollupDelta.objects.count() == 1
    # The next period: its first visit, the latest counted one (in the period before) is before its start.
    sync(admin, [visit(device_time=_at("2025-07-01"))])
    assert _done() == {
        (world.area_a.pk, "quarter", date(2025, 4, 1), 1),
        (world.area_a.pk, "quarter", date(2025, 7, 1), 1),
    }
    assert not any(recompute.differences().values())


def test_a_need_of_several_visits_is_met_by_the_visit_that_reaches_it(world):
    """Monthly, twice (a key group's policy): the first visit of a month is not enough, the second is; one
    batch with both meets it at once; a third adds nothing; a late visit reaching it counts too."""
    from gridgov.visits.models import VisitPolicy

    VisitPolicy.objects.filter(key_group="elderly_alone").update(visits_per_period=2)
    world.household_a.key_groups = ["elderly_alone"]
    world.household_a.save()  # its state: monthly, 2 (refresh)
    admin = client(world, "admin")
    a = world.area_a.pk
    sync(admin, [visit(device_time=_at("2025-05-03"))])
    assert _done() == set()
    sync(admin, [visit(device_time=_at("2025-05-13"))])  # the second of May
    sync(admin, [visit(device_time=_at("2025-05-23"))])  # a third: nothing more
    sync(admin, [visit(device_time=_at("2025-06-03")), visit(device_time=_at("2025-06-13"))])  # June at once
    sync(admin, [visit(device_time=_at("2025-04-03"))])  # late, April: one of two
    assert _done() == {(a, "month", date(2025, 5, 1), 1), (a, "month", date(2025, 6, 1), 1)}
    sync(admin, [visit(device_time=_at("2025-04-13"))])  # late, April: the second
    assert _done() == {(a, "month", date(2025, m, 1), 1) for m in (4, 5, 6)}
    assert not any(recompute.differences().values())


def test_an_approved_visit_counts_when_approved(world):
    """A flagged visit counts once a leader approves it: the first of its period then (+1), not when the
    period was met already, nor when a visit approved late finds a later one counted since."""
    leader = client(world, "leader_a")
    admin = client(world, "admin")
    a = world.area_a.pk
    far = HA_LON + 0.02  # ~2 km from the building: flagged
    sync(admin, [visit(lon=far, device_time=_at("2025-05-10"))])  # Q2, flagged
    sync(admin, [visit(lon=far, device_time=_at("2025-08-10"))])  # Q3, flagged
    sync(admin, [visit(device_time=_at("2025-08-20"))])  # Q3, counted: Q3 met
    sync(admin, [visit(device_time=_at("2025-11-20"))])  # Q4, counted: the latest counted visit
    assert _done() == {(a, "quarter", date(2025, 7, 1), 1), (a, "quarter", date(2025, 10, 1), 1)}
    for v in Visit.objects.filter(review="pending").order_by("device_time"):
        r = leader.post(
            f"/api/v1/visits/review/{v.pk}/", {"decision": "approve"}, content_type="application/json"
        )
        assert r.status_code == 200, r.content
    assert _done() == {(a, "quarter", date(2025, m, 1), 1) for m in (4, 7, 10)}
    assert not any(recompute.differences().values())
