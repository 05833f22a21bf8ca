"""Worst-first dashboard pages from the kept dashboard rows equal the slice of the full sort (the area rows
summed), at every level, with pending deltas, after a fold, a refresh, an approval, in a new month, in a
leader's scope; the kept rows agree with a rebuild."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

import psycopg
import pytest
from django.contrib.gis.geos import Point
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridgov.households.models import Household
from gridgov.visits import dashboards, recompute, rollups, services
from gridgov.visits.models import DashboardMark, DashboardRow, RollupDelta, Visit

from .. import factories as f
from .test_sync import client

pytestmark = pytest.mark.django_db

LEVELS = ("area", "member", "grid", "community", "street", "district")


@pytest.fixture
def town(world):
    """The world and 3 more grids of 8 areas each (areas of 0-6 households; 5 members, some with several
    areas, some areas with none), the rollups derived; returns (world, the households' codes and points)."""
    members = [f.MemberFactory(community=world.community) for _ in range(5)]
    households = []
    n = 0
    for g in range(3):
        x0 = f.X0 + 0.0005 + 0.006 * g
        grid = f.GridFactory(
            community=world.community,
            code=f"{world.community.code}{g + 3:03d}",
            boundary=f.box(x0, f.Y0 + 0.001, x0 + 0.005, f.Y0 + 0.009),
        )
        for k in range(8):
            member = members[(g * 8 + k) % 6] if (g * 8 + k) % 6 < 5 else None
            area = f.AreaFactory(grid=grid, code=f"{grid.code}{k + 1:02d}", member=member)
            # many areas of 2 or 4 households: ties in share and households, broken by the key
            size = (0, 2, 2, 4, 4, 6, 1, 2)[(k + g) % 8]
            for _ in range(size):
                n += 1
                p = Point(x0 + 0.0001 * (n % 40), f.Y0 + 0.002 + 0.00005 * n, srid=4326)
                households.append(
                    Household(
                        community=world.community,
                        area=area,
                        code=f"T{n:04d}",
                        address=f"街{n}号",
                        point=p,
                        head_name="李四",
                        phone="13812345678",
                        id_number="11010519491231002X",
                    )
                )
    Household.objects.bulk_create(households)
    recompute.rebuild()  # derives the rollups and (its fold) the dashboard rows for this month
    city = [(h.code, h.point.x, h.point.y) for h in Household.objects.filter(active=True)]
    return world, city


def record(world, city, picks, when=None, far=False) -> None:
    """A visit to each household in `picks` (codes), by the administrator (flagged when `far`)."""
    where = {code: (x, y) for code, x, y in city}
    when = when or timezone.now() - timedelta(hours=1)
    items = []
    for i, code in enumerate(picks):
        x, y = where[code]
        items.append(
            {
                "id": str(uuid.uuid4()),
                "household": code,
                "channel": "in_person",
                "lon": x + (0.05 if far else 0),
                "lat": y,
                "accuracy": 5,
                "device_time": (when - timedelta(minutes=i)).isoformat(),
            }
        )
    services.record_visits(items, actor=world.users["admin"])


def full(level, day, prefixes=("",)):
    """The reference: every row, summed from the area rows, sorted worst first."""
    return dashboards.dashboard(level, day, list(prefixes), order="worst", nodes=False)


def check_pages(day, prefixes=("",), kept=True) -> int:
    """Every page (sizes 1, 2, 3, 5, 50, at every offset) equals the full sort's slice, at every level the
    kept rows answer in this scope; `kept`: they do answer (not the fallback). The count, and pages in
    key order, and the scope's total, too. Returns how many pages skipped rows on the server."""
    chunk = dashboards.SCAN_CHUNK
    moves = 0
    areas = full("area", day, prefixes)  # the scope's total: what its area rows sum to
    total = dashboards.summary(day, list(prefixes))
    assert (total["households"], total["done"]) == (
        sum(r["households"] for r in areas),
        sum(r["done"] for r in areas),
    )
    for level in LEVELS:
        whole = full(level, day, prefixes)
        assert whole, level
        assert dashboards.dashboard_count(level, list(prefixes)) == len(whole), level
        if not dashboards._reads_rows(level, list(prefixes)):
            continue
        for size in (1, 2, 3, 5, 50):
            for offset in range(0, len(whole) + 2):
                page = dashboards.dashboard(
                    level, day, list(prefixes), order="worst", limit=size, offset=offset
                )
                assert page == whole[offset : offset + size], (level, size, offset)
                fast = dashboards._worst_page(level, day, list(prefixes), size, offset)
                assert (fast is not None) == kept, (level, size, offset)
                # Read a page at a time (a deep page skips the rows before it on the server).
                try:
                    dashboards.SCAN_CHUNK = 0
                    with CaptureQueriesContext(connection) as q:
                        skipping = dashboards.dashboard(
                            level, day, list(prefixes), order="worst", limit=size, offset=offset
                        )
                finally:
                    dashboards.SCAN_CHUNK = chunk
                assert skipping == page, (level, size, offset)
                moves += any("MOVE FORWARD" in x["sql"] for x in q.captured_queries)
        # Pages in key order too.
        by_key = dashboards.dashboard(level, day, list(prefixes), nodes=False)
        for size in (1, 3, 50):
            for offset in range(0, len(whole) + 1):
                page = dashboards.dashboard(level, day, list(prefixes), limit=size, offset=offset)
                assert page == by_key[offset : offset + size], (level, size, offset)
                fast = dashboards._key_page(level, day, list(prefixes), size, offset)
                assert (fast is not None) == kept, (level, size, offset)
    return moves


def agree() -> None:
    assert not any(recompute.differences().values()), recompute.differences()


def test_worst_first_pages_with_pending_deltas_and_after_a_fold(town):
    world, city = town
    today = timezone.localdate()
    assert DashboardRow.objects.filter(month=today.replace(day=1)).exists()
    assert check_pages(today) > 0  # (some deep pages were skipped to)
    # Visits to the worst rows' households (areas with many households and nothing done): pending deltas
    # on the rows a page would read first.
    record(world, city, [c for c, _x, _y in city if c.startswith("T")][::3])
    assert RollupDelta.objects.exists()
    assert check_pages(today) > 0
    agree()
    assert rollups.fold() > 0 and not RollupDelta.objects.exists()
    check_pages(today)
    agree()
    # Past visits (a year ago) are deltas of other periods: today's pages are unchanged by them.
    record(world, city, [c for c, _x, _y in city][:5], when=timezone.now() - timedelta(days=400))
    check_pages(today)
    agree()


def test_a_page_skips_rows_whose_delta_moves_them_back(town):
    """A row with a pending delta that takes it behind the page must not be on it, and the row behind
    it must be: the page is not the first rows of the kept order."""
    world, city = town
    today = timezone.localdate()
    first = dashboards.dashboard("area", today, order="worst", limit=1)[0]
    in_it = [c for c, _x, _y in city if Household.objects.get(code=c).area.code == first["key"]]
    record(world, city, in_it)  # every household of the worst area: it becomes one of the best
    page = dashboards.dashboard("area", today, order="worst", limit=1)
    assert page[0]["key"] != first["key"]
    assert page == full("area", today)[:1]


def reassign(world, city, n: int) -> list[str]:
    """The first `n` households of area T moved to area B by the administrator (the API: refresh folds
    first, then derives the areas' and their nodes' rows again)."""
    moved = [c for c, _x, _y in city if c.startswith("T")][:n]
    r = client(world, "admin").post(
        "/api/v1/visits/reassign/",
        {"households": moved, "area": world.area_b.code},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    return moved


def test_worst_first_pages_after_refresh_approval_and_change_of_hands(town):
    world, city = town
    today = timezone.localdate()
    record(world, city, [c for c, _x, _y in city][::2])
    # A flagged visit (far from the household), approved: a delta, then the upkeep's fold.
    record(world, city, [c for c, _x, _y in city][1:4], far=True)
    flagged = list(Visit.objects.filter(review="pending"))
    assert flagged
    services.review(visit=flagged[0], approve=True, reason="", actor=world.users["admin"])
    check_pages(today)
    agree()
    # Households move to another area (refresh folds first, then re-derives the areas and their nodes).
    moved = reassign(world, city, 6)
    check_pages(today)
    agree()
    # A key group (another policy: once a month) for one household, saved one row at a time.
    h = Household.objects.get(code=moved[0])
    h.key_groups = ["elderly_alone"]
    h.save()
    check_pages(today)
    agree()
    # An area changes hands, and one loses its member: both members' rows and the no-member row.
    world.area_a2.member = world.member_a
    world.area_a2.save()
    world.area_b.member = None
    world.area_b.save()
    check_pages(today)
    agree()


def test_a_new_month_answers_before_and_after_the_rows_move_to_it(town):
    world, city = town
    today = timezone.localdate()
    record(world, city, [c for c, _x, _y in city][::2])
    rollups.fold()
    # A month, quarter and year where nothing is kept yet: the area rows summed (every row at 0 done).
    later = (today.replace(day=1) + timedelta(days=400)).replace(day=1)
    check_pages(later, kept=False)
    assert all(r["done"] == 0 for r in dashboards.dashboard("grid", later, order="worst", limit=50))
    # The rows move to that month (as the first fold in it does), then answer it.
    with connection.cursor() as cur:
        rollups.dashboard_month(cur, later)
    assert set(DashboardRow.objects.values_list("month", flat=True)) == {later}
    check_pages(later)
    agree()
    # Now the current month and a past day sum the area rows, exactly.
    check_pages(today, kept=False)
    check_pages(today - timedelta(days=400), kept=False)
    # Rows kept for last month: visits then are pending deltas of its periods, until a fold, which also
    # moves the rows to this month (every row derived again).
    last = today.replace(day=1) - timedelta(days=1)
    with connection.cursor() as cur:
        rollups.dashboard_month(cur, last)
    noon = timezone.make_aware(datetime.combine(last, time(12)))
    record(world, city, [c for c, _x, _y in city][1::2], when=noon)
    assert RollupDelta.objects.exists()
    check_pages(last)
    agree()
    rollups.fold()
    assert set(DashboardRow.objects.values_list("month", flat=True)) == {today.replace(day=1)}
    check_pages(today)
    check_pages(last, kept=False)
    agree()


def test_a_leaders_scope(town):
    world, city = town
    today = timezone.localdate()
    record(world, city, [c for c, _x, _y in city][::3])
    street = world.community.code[:9]
    grid = f"{world.community.code}004"
    for prefixes in ([street], [world.community.code], [grid], [world.area_a.code, world.area_b.code]):
        check_pages(today, prefixes)
    # The API: a community's staff, worst first, page by page; the count and the scope's total.
    staff = client(world, "community")
    whole = dashboards.dashboard("area", today, [world.community.code], order="worst", nodes=False)
    got = []
    for page in range(1, len(whole) // 4 + 2):
        r = staff.get(f"/api/v1/visits/compliance/?level=area&order=worst&page_size=4&page={page}").json()
        assert r["count"] == len(whole)
        assert r["total"]["households"] == sum(x["households"] for x in whole)
        assert r["total"]["done"] == sum(x["done"] for x in whole)
        got += r["rows"]
    assert got == whole
    admin = client(world, "admin")
    for level in ("grid", "member", "area"):
        whole = full(level, today)
        r = admin.get(f"/api/v1/visits/compliance/?level={level}&order=worst&page_size=3&page=2").json()
        assert r["rows"] == whole[3:6] and r["count"] == len(whole), level


def test_no_rows_kept_yet(town):
    """Before the first fold (no row kept), pages and counts sum the area rows; the fold derives them."""
    world, city = town
    today = timezone.localdate()
    record(world, city, [c for c, _x, _y in city][::2])
    DashboardRow.objects.all().delete()
    check_pages(today, kept=False)
    check_pages(today, [world.community.code], kept=False)
    rollups.fold()
    check_pages(today)
    agree()


def _heap_fetches() -> int:
    """Rows a worst-first read of every area row fetched from the table rather than the index alone (pages
    not all-visible); an index-only scan forced, as at city scale."""
    with connection.cursor() as cur:
        cur.execute("SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_sort = off")
        try:
            cur.execute(
                f"""EXPLAIN (ANALYZE, FORMAT JSON) SELECT key, households, done FROM {rollups.DASHBOARD}
                    WHERE month = {rollups.KEPT_MONTH} AND level = 'area'
                    ORDER BY month, level, {rollups.WORST_SEEK}"""
            )
            (plan,) = cur.fetchone()
        finally:
            cur.execute("RESET enable_seqscan; RESET enable_bitmapscan; RESET enable_sort")

    def scans(node):
        yield node
        for child in node.get("Plans", []):
            yield from scans(child)

    (scan,) = [
        n
        for n in scans(plan[0]["Plan"])
        if n.get("Index Name") == "dashboardrow_seek_idx" and "level" in n.get("Index Cond", "")
    ]  # (not the month's: `KEPT_MONTH` may read the same index)
    assert scan["Node Type"] == "Index Only Scan"
    assert scan["Actual Rows"] > 10
    return scan["Heap Fetches"]


@pytest.fixture
def flushed_commits():
    """Commits flushed as in production: VACUUM marks a page all-visible only once the commits of its rows
    are on disk (their hint bits set), and the suite's sessions commit asynchronously."""
    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit = on")
    yield
    with connection.cursor() as cur:
        cur.execute("RESET synchronous_commit")


@pytest.mark.django_db(transaction=True)
def test_the_minutes_fold_vacuums_the_dashboard_rows_later(town, flushed_commits, monkeypatch):
    """A fold updates dashboard rows across the table, whose pages are then no longer all-visible: a
    worst-first page fetches those rows from the table too. VACUUM marks them all-visible again only once
    no open transaction took its snapshot before the fold committed, and under sync traffic a batch begun
    before the fold is nearly always still open just after it: the beat's fold task queues the vacuum to
    run later (after the batch here has ended), not straight after the fold."""
    from celery.app.task import Task

    from gridgov.visits import tasks

    world, city = town
    with connection.cursor() as cur:
        cur.execute(f"VACUUM {rollups.DASHBOARD}")
    record(world, city, [code for code, _x, _y in city[::2]])
    assert rollups.fold() > 0  # the fold alone
    assert _heap_fetches() > 0
    record(world, city, [code for code, _x, _y in city[1::2]], when=timezone.now() - timedelta(hours=30))
    queued = []  # tasks queued (run by the test below, not at once as the suite's eager setting would)
    monkeypatch.setattr(
        Task,
        "apply_async",
        lambda task, args=None, kwargs=None, **options: queued.append(
            (task, args or (), kwargs or {}, options)
        ),
    )
    # a batch in flight in another session: its snapshot taken before the fold commits
    other = psycopg.connect(**connection.get_connection_params(), autocommit=True)
    try:
        other.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        other.execute("SELECT 1 FROM households_household LIMIT 1")
        with CaptureQueriesContext(connection) as queries:
            assert tasks.fold_rollups() > 0
        other.execute("COMMIT")
    finally:
        other.close()
    assert not RollupDelta.objects.exists()
    with CaptureQueriesContext(connection) as later:
        for task, args, kwargs, _options in queued:
            task(*args, **kwargs)
    assert _heap_fetches() == 0
    assert not [q for q in queries if q["sql"].startswith("VACUUM")]  # not straight after the fold
    assert [(task.name, options) for task, _a, _k, options in queued] == [
        ("gridgov.visits.tasks.vacuum_dashboard_rows", {"countdown": tasks.VACUUM_DELAY})
    ]
    vacuums = [q["sql"] for q in later if q["sql"].startswith("VACUUM")]
    assert vacuums == [f"VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON, TRUNCATE false) {rollups.DASHBOARD}"]
    queued.clear()
    assert tasks.fold_rollups() == 0  # nothing to fold: no vacuum either
    assert not queued


@pytest.fixture
def marks_every(monkeypatch):
    """Marks every `n` rows (the city's 1,000 would leave this town with none but the first rows'): the
    marks derived again at once, and by each fold after."""

    def every(n: int) -> None:
        monkeypatch.setattr(rollups, "MARK_EVERY", n)
        with connection.cursor() as cur:
            cur.execute(f"DELETE FROM {rollups.MARKS}")
            rollups.dashboard_marks(cur)
        assert DashboardMark.objects.filter(position__gt=0).exists()

    return every


def _moves(level, day, size, offset) -> tuple[list, list[int]]:
    """A page read a page at a time (`SCAN_CHUNK` 0: deep pages skip), and the rows each MOVE stepped
    over."""
    chunk = dashboards.SCAN_CHUNK
    try:
        dashboards.SCAN_CHUNK = 0
        with CaptureQueriesContext(connection) as q:
            page = dashboards.dashboard(level, day, order="worst", limit=size, offset=offset)
    finally:
        dashboards.SCAN_CHUNK = chunk
    moves = [int(x["sql"].split()[2]) for x in q.captured_queries if x["sql"].startswith("MOVE FORWARD")]
    return page, moves


def kept_sorted(level) -> list[dict]:
    """The dashboard rows kept for a level, sorted worst first (no pending delta added)."""
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT key, households, done FROM {rollups.DASHBOARD}
                WHERE month = {rollups.KEPT_MONTH} AND level = %s ORDER BY {rollups.WORST_SEEK}""",
            [level],
        )
        return [dashboards._row(*r) for r in cur.fetchall()]


def check_marked(day, every, reference=full) -> None:
    """Every worst-first page of the whole city (sizes 1, 2, 5, at every offset) seeking from the marks
    equals the reference's slice (the full sort of the area rows summed) and the page read without marks
    (OFFSET-style, every row stepped over), and steps over fewer rows than `every` after its mark."""
    assert DashboardMark.objects.filter(position__gt=0).exists()
    for level in LEVELS:
        whole = full(level, day) if reference is full else reference(level)
        for size in (1, 2, 5):
            for offset in range(0, len(whole) + 2):
                page, moves = _moves(level, day, size, offset)
                assert page == whole[offset : offset + size], (level, size, offset)
                # (past the last row: a MOVE asks for what is not there)
                assert offset >= len(whole) or all(n < every for n in moves), (level, size, offset, moves)
                try:
                    dashboards.MARKED = False
                    unmarked, _moves_unmarked = _moves(level, day, size, offset)
                finally:
                    dashboards.MARKED = True
                assert unmarked == page, (level, size, offset)


def test_pages_seek_from_marks_with_pending_deltas_and_across_a_fold(town, marks_every):
    world, city = town
    today = timezone.localdate()
    # Marks at every row, every 2 and 3 rows; a deep page seeks from one, the rows before it counted.
    for every in (1, 2, 3):
        marks_every(every)
        check_marked(today, every)
    # Pending deltas (the marks stay: the rows are unchanged), some on rows before a page's mark.
    record(world, city, [c for c, _x, _y in city if c.startswith("T")][::3])
    assert RollupDelta.objects.exists() and DashboardMark.objects.exists()
    check_marked(today, 3)
    # The fold changes the rows: their marks go with the fold's statement, and come back derived again.
    positions = set(DashboardMark.objects.values_list("level", "position", "share", "key"))
    assert rollups.fold() > 0
    assert set(DashboardMark.objects.values_list("level", "position", "share", "key")) != positions
    check_marked(today, 3)
    agree()
    record(world, city, [c for c, _x, _y in city][1::4])
    check_marked(today, 3)
    check_pages(today)


def _marks() -> list[tuple]:
    """The marks as the fold derives them from the rows now."""
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {rollups.MARKS}")
        rollups.dashboard_marks(cur)
    fields = ("month", "level", "position", "share", "households", "key")
    return sorted(DashboardMark.objects.values_list(*fields))


def test_marks_go_with_any_change_of_the_rows(town, marks_every):
    """Marks that no longer match the rows would put a page's rows in the wrong place: a statement that
    changes dashboard rows (any writer: the fold, a refresh, a rebuild's repair, by hand) deletes them in its
    own transaction, and the next fold derives them again."""
    world, city = town
    today = timezone.localdate()
    marks_every(2)
    # The worst rows by hand (as a writer that does not know the marks would): every one done.
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE {rollups.DASHBOARD} SET done = households
                WHERE level = 'area' AND key IN (
                    SELECT key FROM {rollups.DASHBOARD} WHERE level = 'area'
                    ORDER BY {rollups.WORST_SEEK} LIMIT 6)"""
        )
    assert not DashboardMark.objects.exists()
    check_marked_pages = [
        dashboards.dashboard("area", today, order="worst", limit=size, offset=offset)
        for size in (1, 2, 5)
        for offset in range(0, 30)
    ]
    whole = kept_sorted("area")
    assert check_marked_pages == [whole[o : o + s] for s in (1, 2, 5) for o in range(0, 30)]
    rollups.fold()  # nothing to fold: the marks derived again all the same
    assert DashboardMark.objects.exists()
    check_marked(today, 2, reference=kept_sorted)
    agree_after = recompute.rebuild()  # the rows by hand repaired: the marks derived again after
    assert agree_after["dashboard"] > 0
    marks = sorted(
        DashboardMark.objects.values_list("month", "level", "position", "share", "households", "key")
    )
    assert marks == _marks()
    check_marked(today, 2)
    # A household moved (refresh: its areas' and nodes' rows derived again): the marks go until the fold.
    reassign(world, city, 4)
    assert not DashboardMark.objects.exists()
    check_pages(today)
    rollups.fold()
    check_marked(today, 2)
    # An update that changes no row keeps them.
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {rollups.DASHBOARD} SET done = done WHERE false")
    assert DashboardMark.objects.exists()
    # A new month: every row derived again, the marks too.
    later = (today.replace(day=1) + timedelta(days=40)).replace(day=1)
    with connection.cursor() as cur:
        rollups.dashboard_month(cur, later)
        assert not DashboardMark.objects.exists()
        rollups.dashboard_marks(cur)
    assert set(DashboardMark.objects.values_list("month", flat=True)) == {later}
    check_marked(later, 2)


def test_the_check_finds_marks_that_do_not_match_the_rows_and_the_rebuild_repairs_them(town, marks_every):
    """Marks that do not match the dashboard rows (a mark with another key, one gone, one too many: written
    by hand, with the rows unchanged, so no trigger deletes them) put a deep page's rows in the wrong place:
    the check (`differences`, `visits_rollups --check`) finds them, the rebuild derives them all again."""
    world, city = town
    today = timezone.localdate()
    marks_every(2)
    good = _marks()
    assert recompute.differences() == dict.fromkeys(recompute.CHECKED, 0)
    with connection.cursor() as cur:
        cur.execute(f"UPDATE {rollups.MARKS} SET key = 'x' || key WHERE level = 'area' AND position = 4")
        cur.execute(f"DELETE FROM {rollups.MARKS} WHERE level = 'grid' AND position = 2")
        cur.execute(
            f"""INSERT INTO {rollups.MARKS} (month, level, position, share, households, key)
                SELECT month, level, position + 1, share, households, key FROM {rollups.MARKS}
                WHERE level = 'member' AND position = 0"""
        )
    assert recompute.differences() == dict.fromkeys(recompute.CHECKED, 0) | {"marks": 3}
    with pytest.raises(CommandError, match="marks"):
        call_command("visits_rollups", "--check")
    assert recompute.rebuild() == dict.fromkeys(recompute.CHECKED, 0) | {"marks": 3}
    fields = ("month", "level", "position", "share", "households", "key")
    assert sorted(DashboardMark.objects.values_list(*fields)) == good
    check_marked(today, 2)
    assert recompute.differences() == dict.fromkeys(recompute.CHECKED, 0)
    assert recompute.rebuild() == dict.fromkeys(recompute.CHECKED, 0)
    # With pending deltas (the rows unchanged until the fold) the marks still match the rows: none differ.
    record(world, city, [c for c, _x, _y in city][::3])
    assert RollupDelta.objects.exists() and DashboardMark.objects.exists()
    assert recompute.differences() == dict.fromkeys(recompute.CHECKED, 0)
    # No marks (a statement changed the rows): nothing to check, the next fold derives them.
    with connection.cursor() as cur:
        cur.execute(f"DELETE FROM {rollups.MARKS}")
    assert recompute.differences()["marks"] == 0


def test_a_page_past_any_offset_postgresql_takes_is_a_field_error(town):
    """A page number whose offset PostgreSQL cannot take (past 2^31) is a 400 on `page`, not a 500 (review
    of upkeep6: `MOVE FORWARD 4999999949` was a syntax error)."""
    world, city = town
    record(world, city, [c for c, _x, _y in city][::2])
    admin = client(world, "admin")
    r = admin.get("/api/v1/visits/compliance/?level=area&order=worst&page_size=50&page=100000000")
    assert r.status_code == 400 and "page" in r.json(), r.content
    r = admin.get("/api/v1/visits/compliance/?level=area&order=worst&page_size=1000&page=1000000")
    assert r.status_code == 200 and r.json()["rows"] == []


@pytest.mark.django_db
def test_the_marks_triggers_fire_with_replication_triggers_off():
    """The triggers that delete the marks fire under `session_replication_role = replica` too (a restore
    or bulk load with triggers off must not keep marks; review of upkeep6)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'visits_dashboardrow'::regclass "
            "AND tgname LIKE 'visits_dashboardmark_forget_%%'"
        )
        enabled = dict(cur.fetchall())
    assert len(enabled) == 4 and set(enabled.values()) == {"A"}, enabled
