"""Visit logging and batch sync: idempotent, per-item errors, verification flags, review, due lists."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from gridgov.visits.models import Visit
from gridgov.visits.selectors import due_list

from .. import factories as f
from ..factories import client

pytestmark = pytest.mark.django_db

X0, Y0 = 114.20, 22.55
HA_LON, HA_LAT = X0 + 0.002, Y0 + 0.005  # the point of household HA1 (and its building)


def visit(household: str = "HA1", **kw) -> dict:
    data = {
        "id": str(uuid.uuid4()),
        "household": household,
        "channel": "in_person",
        "lon": HA_LON,
        "lat": HA_LAT,
        "accuracy": 12.0,
        "device_time": (timezone.now() - timedelta(hours=1)).isoformat(),
        "notes": "一切正常",
        "findings": ["opinion"],
    }
    data.update(kw)
    return {k: v for k, v in data.items() if v is not ...}


def sync(c: Client, items) -> dict:
    r = c.post("/api/v1/visits/sync/", {"visits": items}, content_type="application/json")
    assert r.status_code == 200, r.content
    return r.json()


def test_batch_is_idempotent_and_keeps_both_times(world):
    c = client(world, "member_a")
    items = [visit(), visit(device_time=(timezone.now() - timedelta(days=3)).isoformat())]
    first = sync(c, items)
    assert first["created"] == 2 and first["errors"] == 0
    again = sync(c, items)
    assert again["created"] == 0 and again["exists"] == 2
    assert Visit.objects.count() == 2
    v = Visit.objects.get(pk=items[1]["id"])
    assert v.received_at - v.device_time > timedelta(days=2)
    assert v.member == world.member_a and v.counted and v.findings == ["opinion"]


def test_bad_items_are_reported_per_field_and_do_not_sink_the_good_ones(world):
    c = client(world, "member_a")
    good = visit()
    bad = [
        visit(lon=..., lat=...),  # in person without a fix
        visit(lat=95.0),
        visit(accuracy=0),
        visit(accuracy=-3),
        visit(device_time=(timezone.now() + timedelta(hours=2)).isoformat()),
        visit(device_time="yesterday"),
        visit(household="NOPE"),
        visit(household="HB1"),  # someone else's household, in another grid
        visit(id="not-a-uuid"),
        visit(findings=["gossip"]),
        "not an object",
    ]
    out = sync(c, [good, *bad])
    assert out["created"] == 1 and out["errors"] == len(bad)
    fields = [next(iter(r.get("errors", {})), None) for r in out["results"]]
    assert fields == [
        None,
        "lat",
        "lat",
        "accuracy",
        "accuracy",
        "device_time",
        "device_time",
        "household",
        "household",
        "id",
        "findings",
        "non_field_errors",
    ]
    assert Visit.objects.count() == 1


def test_malformed_batches_are_refused(world):
    c = client(world, "member_a")
    assert c.post("/api/v1/visits/sync/", {"visits": "x"}, content_type="application/json").status_code == 400
    assert c.post("/api/v1/visits/sync/", [1, 2], content_type="application/json").status_code == 400
    same = visit()
    out = sync(c, [same, dict(same)])
    assert out["created"] == 1 and out["results"][1]["errors"]["id"]


def test_single_visit_endpoint(world):
    c = client(world, "member_a")
    r = c.post("/api/v1/visits/", visit(), content_type="application/json")
    assert r.status_code == 201 and r.json()["counted"] is True
    r = c.post("/api/v1/visits/", visit(accuracy=0), content_type="application/json")
    assert r.status_code == 400 and "accuracy" in r.json()


def test_verification_flags(world):
    c = client(world, "member_a")
    now = timezone.now()
    far = visit(lon=HA_LON + 0.01, device_time=(now - timedelta(days=10)).isoformat())  # ~1 km away
    vague = visit(accuracy=500.0, device_time=(now - timedelta(days=9)).isoformat())
    phone = visit(
        channel="phone", lon=..., lat=..., accuracy=..., device_time=(now - timedelta(days=8)).isoformat()
    )
    repeat = visit(device_time=(now - timedelta(days=8, hours=-2)).isoformat())
    other_area = visit(household="HA2", lon=X0 + 0.007, device_time=(now - timedelta(days=5)).isoformat())
    out = sync(c, [far, vague, phone, repeat, other_area])
    flags = [r["flags"] for r in out["results"]]
    assert "far_from_building" in flags[0]
    assert flags[1] == ["poor_accuracy"]
    assert flags[2] == []  # a phone visit has no distance check
    assert "repeat_visit" in flags[3]
    assert "outside_assignment" in flags[4]
    assert not Visit.objects.get(pk=far["id"]).counted
    assert 950 < Visit.objects.get(pk=far["id"]).distance_m < 1100  # 0.01° of longitude at 22.55°N
    assert Visit.objects.get(pk=phone["id"]).counted


def test_a_repeat_of_a_stored_visit_is_found_whatever_else_the_batch_holds(world):
    """A visit within the window of a counted visit stored before the batch is a repeat (not counted), also
    when an earlier visit of the same batch to the household is not (it is weeks before): each visit is
    checked against the stored visits near its own time, and within the batch against its earlier ones."""
    c = client(world, "member_a")
    now = timezone.now()
    stored = visit(device_time=(now - timedelta(days=10)).isoformat())
    sync(c, [stored])
    early = visit(device_time=(now - timedelta(days=20)).isoformat())
    near = visit(device_time=(now - timedelta(days=10, hours=-2)).isoformat())  # 2 h after the stored one
    again = visit(device_time=(now - timedelta(days=10, hours=-4)).isoformat())  # 2 h after `near`
    late = visit(device_time=(now - timedelta(days=3)).isoformat())
    out = sync(c, [late, near, early, again])
    assert [r["flags"] for r in out["results"]] == [[], ["repeat_visit"], [], ["repeat_visit"]]
    counted = set(Visit.objects.filter(counted=True).values_list("pk", flat=True))
    assert {str(pk) for pk in counted} == {stored["id"], early["id"], late["id"]}
    assert Visit.objects.get(pk=near["id"]).review == "pending"


def test_implausible_speed_between_consecutive_visits(world):
    c = client(world, "member_a")
    t = timezone.now() - timedelta(days=2)
    a = visit(device_time=t.isoformat())
    b = visit(household="HA1", lon=HA_LON + 0.3, device_time=(t + timedelta(minutes=1, hours=30)).isoformat())
    c2 = visit(household="HA1", device_time=(t + timedelta(hours=30, minutes=2)).isoformat())
    out = sync(c, [a, b, c2])
    assert "implausible_speed" in out["results"][2]["flags"]


def test_leader_reviews_flagged_visits(world):
    far = visit(lon=HA_LON + 0.01)
    sync(client(world, "member_a"), [far])
    leader = client(world, "leader_a")
    queue = leader.get("/api/v1/visits/review/").json()["visits"]
    assert [v["id"] for v in queue] == [far["id"]]
    assert client(world, "member_a").get("/api/v1/visits/review/").json()["visits"] == []
    url = f"/api/v1/visits/review/{far['id']}/"
    assert leader.post(url, {"decision": "reject"}, content_type="application/json").status_code == 400
    r = leader.post(url, {"decision": "approve"}, content_type="application/json")
    assert r.json()["review"] == "approved" and Visit.objects.get(pk=far["id"]).counted
    assert (
        client(world, "member_a")
        .post(url, {"decision": "approve"}, content_type="application/json")
        .status_code
        == 404
    )


def test_due_list_statuses_and_policies(world):
    today = timezone.localdate()
    member = world.users["member_a"]
    rows = due_list(member, today)
    assert [r["code"] for r in rows] == ["HA1"]
    assert rows[0]["status"] == "overdue" and rows[0]["policy"]["period"] == "quarter"
    sync(client(world, "member_a"), [visit()])
    rows = due_list(member, today)
    assert rows[0]["status"] == "done" and rows[0]["done_this_period"] == 1
    # An elderly person living alone is due every month.
    world.household_a.key_groups = ["elderly_alone"]
    world.household_a.save()
    assert due_list(member, today)[0]["policy"]["period"] == "month"
    # Next month, without a new visit, it is due again (and not overdue: last month was done).
    nxt = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    assert due_list(member, nxt)[0]["status"] in ("due", "due_soon")


def test_compliance_by_grid(world):
    sync(client(world, "member_a"), [visit()])
    c = client(world, "community")
    rows = {r["key"]: r for r in c.get("/api/v1/visits/compliance/?level=grid").json()["rows"]}
    assert rows[world.grid_a.code]["households"] == 2 and rows[world.grid_a.code]["done"] == 1
    assert rows[world.grid_b.code]["share_done"] == 0
    assert c.get("/api/v1/visits/compliance/?level=planet").status_code == 400
    # Coordinators do not see the ledger, so no compliance rows either.
    assert client(world, "coordinator").get("/api/v1/visits/compliance/?level=grid").json()["rows"] == []


def test_visit_times_are_kept_in_utc(world):
    sync(client(world, "member_a"), [visit(device_time="2026-11-20T09:30:00+08:00")])
    v = Visit.objects.get()
    assert v.device_time == datetime.fromisoformat("2026-11-20T01:30:00+00:00")


def test_photo_upload_is_checked(world, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    settings.GRIDGOV_VISIT_RULES = {**settings.GRIDGOV_VISIT_RULES, "max_photo_bytes": 1024}
    c = client(world, "member_a")
    v = visit()
    sync(c, [v])
    url = f"/api/v1/visits/{v['id']}/photo/"
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    assert c.post(url, {"photo": SimpleUploadedFile("a.png", png)}).status_code == 200
    assert Visit.objects.get(pk=v["id"]).photo.name.endswith(".png")
    too_big = SimpleUploadedFile("b.png", b"\x89PNG\r\n\x1a\n" + b"0" * 2000)
    r = c.post(url, {"photo": too_big})
    assert r.status_code == 400 and "photo" in r.json()
    r = c.post(url, {"photo": SimpleUploadedFile("c.txt", b"hello world, not an image")})
    assert r.status_code == 400
    # Someone else's visit is not found.
    assert client(world, "leader_a").post(url, {"photo": SimpleUploadedFile("a.png", png)}).status_code == 404


def test_a_visit_photo_is_seen_by_its_member_and_the_staff_over_the_household_only(world, tmp_path, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    settings.MEDIA_ROOT = tmp_path
    c = client(world, "member_a")
    v = visit()
    sync(c, [v])
    png = b"\x89PNG\r\n\x1a\n" + b"1" * 100
    seen_at = c.post(f"/api/v1/visits/{v['id']}/photo/", {"photo": SimpleUploadedFile("a.png", png)}).json()[
        "photo"
    ]
    assert seen_at == f"/visits/{v['id']}/photo/"  # a scoped view, not /media/
    for who in ("member_a", "leader_a", "community"):
        r = client(world, who).get(seen_at)
        assert r.status_code == 200 and b"".join(r.streaming_content) == png, who
        assert r["Content-Type"] == "image/png" and r["X-Content-Type-Options"] == "nosniff"
        assert r["Cache-Control"].startswith("private")
    assert client(world, "department").get(seen_at).status_code == 404  # no ledger scope
    assert Client().get(seen_at).status_code == 302  # to the login page
    assert (
        client(world, "member_a").get(f"/media/{Visit.objects.get(pk=v['id']).photo.name}").status_code == 404
    )


def test_a_batch_is_audited_once_with_its_counts(world):
    from gridgov.core.models import AuditEntry

    c = client(world, "member_a")
    items = [visit(), visit(device_time=(timezone.now() - timedelta(days=3)).isoformat()), visit(accuracy=0)]
    sync(c, items)
    entry = AuditEntry.objects.get(action="visits.sync")
    assert entry.actor == world.users["member_a"] and entry.data == {"created": 2, "received": 3}
    sync(c, items)  # nothing new: no second entry
    assert AuditEntry.objects.filter(action="visits.sync").count() == 1


def test_odd_values_are_field_errors_not_server_errors(world):
    c = client(world, "member_a")
    out = sync(
        c,
        [
            visit(notes="a\x00b"),
            visit(household="HA\x001"),
            visit(findings=[{"x": 1}]),
            visit(id="C9E9C616-612E-4696-A6CE-CC1B78E51061"),  # not canonical: still a UUID
        ],
    )
    assert [next(iter(r.get("errors", {})), None) for r in out["results"]] == [
        "notes",
        "household",
        "findings",
        None,
    ]
    assert out["results"][3]["id"] == "c9e9c616-612e-4696-a6ce-cc1b78e51061"
    assert Visit.objects.filter(pk="c9e9c616-612e-4696-a6ce-cc1b78e51061").exists()


def test_quotes_and_backslashes_in_notes_are_stored_as_sent(world):
    notes = 'He said "no" \\ 不 {a,b} NULL'
    sync(client(world, "member_a"), [visit(notes=notes)])
    assert Visit.objects.get().notes == notes


def test_a_member_resolves_the_households_of_their_grid_only_through_a_prepared_statement(world):
    from django.db import connection

    from gridgov.visits import services

    c = client(world, "member_a")
    days = iter(range(40, 0, -2))

    def batch() -> list[dict]:
        def when() -> str:
            return (timezone.now() - timedelta(days=next(days))).isoformat()

        return [
            visit(device_time=when()),  # HA1: the member's own area
            visit(household="HA2", lon=X0 + 0.007, device_time=when()),  # their grid, another area: flagged
            visit(household="HB1", device_time=when()),  # grid B: not theirs
            visit(household="HD1", device_time=when()),  # another community
        ]

    def prepared() -> set[str]:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT name FROM pg_prepared_statements WHERE statement LIKE %s", ["%FOR NO KEY UPDATE%"]
            )
            return {r[0] for r in cur.fetchall()}

    seen = []
    for _ in range(2):  # the second batch runs the statement prepared by the first, on the same connection
        out = sync(c, batch())
        assert [r["status"] for r in out["results"]] == ["created", "created", "error", "error"]
        assert out["results"][0]["flags"] == [] and out["results"][1]["flags"] == ["outside_assignment"]
        assert "household" in out["results"][2]["errors"]
        seen.append(prepared())
    assert seen[0] and seen[1] == seen[0]
    # The member's households in plain SQL are those `visitable_households` gives: their grid's, not another
    # grid's nor one without an area; with an area in a second grid, that grid's too.
    from gridgov.households.models import Household

    f.HouseholdFactory(community=world.household_a.community, area=None, code="HX1")

    def plain() -> set[int]:
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT h.id FROM households_household h WHERE {services.MEMBER_SCOPE}", [world.member_a.pk]
            )
            return {r[0] for r in cur.fetchall()}

    def orm() -> set[int]:
        return set(services.visitable_households(world.users["member_a"]).values_list("id", flat=True))

    assert plain() == orm() == {world.household_a.pk, world.household_a2.pk}
    world.area_b.member = world.member_a
    world.area_b.save()
    assert plain() == orm() == {world.household_a.pk, world.household_a2.pk, world.household_b.pk}
    assert Household.objects.filter(code="HX1", area=None).exists()


def test_a_synced_visit_is_indexed_only_where_something_reads_it(world):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'visits_visit'")
        indexes = dict(cur.fetchall())
    assert not [d for d in indexes.values() if "gist" in d.lower()]  # nothing searches visits by place
    reviewer = [name for name, d in indexes.items() if "(reviewed_by_id)" in d]
    assert reviewer == ["visit_reviewed_by_idx"]
    assert indexes["visit_reviewed_by_idx"].endswith("WHERE (reviewed_by_id IS NOT NULL)")
    with connection.cursor() as cur:  # what deleting a user looks up can use the partial index
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute("EXPLAIN SELECT id FROM visits_visit WHERE reviewed_by_id IN (1, 2)")
        assert "visit_reviewed_by_idx" in " ".join(r[0] for r in cur.fetchall())


def test_the_admin_never_deletes_a_visit(world):
    """A counted visit deleted in the admin would stay in the rollups: visits are rejected, not deleted."""
    item = visit()
    assert sync(client(world, "member_a"), [item])["created"] == 1
    pk = item["id"]
    admin = client(world, "admin")
    assert admin.get(f"/admin/visits/visit/{pk}/change/").status_code == 200
    assert admin.get(f"/admin/visits/visit/{pk}/delete/").status_code == 403
    assert admin.post(f"/admin/visits/visit/{pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = admin.post("/admin/visits/visit/", {"action": "delete_selected", "_selected_action": [pk]})
    assert bulk.status_code in (200, 302)
    assert Visit.objects.filter(pk=pk).exists()


def test_a_batch_s_first_fix_is_checked_against_the_member_s_previous_stored_one(world):
    """The speed check reads the member's located visits stored (by another batch) around the batch's own:
    30 km in a minute after the stored one is flagged, with the repeat of the stored visit within the window
    too; a visit synced late, a minute before the stored one and 30 km from it, is flagged too (the stored
    visit is left as it is: see `services.TOO_FAST`)."""
    c = client(world, "member_a")
    t = timezone.now() - timedelta(days=2)
    sync(c, [visit(device_time=t.isoformat())])
    later = visit(lon=HA_LON + 0.3, device_time=(t + timedelta(minutes=1)).isoformat())
    out = sync(c, [later])
    flags = ["far_from_building", "implausible_speed", "repeat_visit"]
    assert [(r["status"], r["flags"], r["counted"]) for r in out["results"]] == [("created", flags, False)]
    assert Visit.objects.get(pk=later["id"]).flags == flags
    earlier = visit(household="HA2", lon=HA_LON + 0.3, device_time=(t - timedelta(minutes=1)).isoformat())
    out = sync(c, [earlier])  # its previous is none, its next the first one stored (30 km a minute later)
    assert out["results"][0]["flags"] == ["far_from_building", "implausible_speed", "outside_assignment"]
    assert Visit.objects.filter(flags=[]).count() == 1  # the first one stored is unchanged


def test_refusals_a_member_reads_are_in_their_language(world, settings):
    """The visits page shows a refused photo's reason to the member: it was English on the Chinese page
    ("The photo is larger than 0 MB." for a limit under 1 MB)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.GRIDGOV_VISIT_RULES = {**settings.GRIDGOV_VISIT_RULES, "max_photo_bytes": 1024}
    c = client(world, "member_a")
    v = visit()
    sync(c, [v])
    url = f"/api/v1/visits/{v['id']}/photo/"
    too_big = SimpleUploadedFile("b.png", b"\x89PNG\r\n\x1a\n" + b"0" * 2000)
    r = c.post(url, {"photo": too_big}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert r.json() == {"photo": ["照片超过 1.0\xa0KB。"]}
    too_big.seek(0)
    r = c.post(url, {"photo": too_big}, HTTP_ACCEPT_LANGUAGE="en")
    assert r.json() == {"photo": ["The photo is larger than 1.0\xa0KB."]}
    r = c.post(
        "/api/v1/visits/sync/", {"visits": 3}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert r.json() == {"visits": ["需要走访记录列表。"]}
