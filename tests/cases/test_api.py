"""The issue API: scoped, field errors, conflicts, console, public intake and tracking."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from gridgov.cases import services
from gridgov.cases.models import Case, CasePhoto

from .. import factories as f
from ..factories import client
from .conftest import IN_A, IN_B


def client_for(user) -> APIClient:
    c = APIClient()
    c.force_authenticate(user)
    return c


def body(point, **kw):
    values = {"category": "env-garbage", "description": "垃圾", "lon": point.x, "lat": point.y}
    values.update(kw)
    return values


@pytest.fixture
def dept(world):
    return world.users["department"].department


def test_a_member_reports_on_patrol_and_sees_possible_duplicates(world) -> None:
    api = client_for(world.users["member_a"])
    first = api.post("/api/v1/cases/", body(IN_A), format="json")
    assert first.status_code == 201, first.content
    assert first.json()["state"]["code"] == "reported" and first.json()["node_code"] == world.area_a.code
    second = api.post("/api/v1/cases/", body(IN_A, description="又有垃圾"), format="json")
    assert [d["reference"] for d in second.json()["duplicates"]] == [first.json()["reference"]]
    assert Case.objects.get(uuid=second.json()["id"]).channel == "patrol"


def test_bad_reports_get_field_errors_and_nothing_is_written(world) -> None:
    api = client_for(world.users["member_a"])
    r = api.post("/api/v1/cases/", {"category": "env-garbage", "lon": 200, "lat": "x"}, format="json")
    assert r.status_code == 400 and {"lon", "lat", "description"} <= set(r.json())
    r = api.post("/api/v1/cases/", body(IN_A, category="nope"), format="json")
    assert r.status_code == 400 and r.json()["code"] == "cases.category" and r.json()["field"] == "category"
    r = api.post("/api/v1/cases/", body(IN_A, visit=str(uuid.uuid4())), format="json")
    assert r.status_code == 400 and "visit" in r.json()
    assert not Case.objects.exists()


def test_lists_and_details_are_scoped(world, dept) -> None:
    in_a, _ = services.case_report(category="env-garbage", description="A", location=IN_A, channel="hotline")
    in_b, _ = services.case_report(category="env-garbage", description="B", location=IN_B, channel="hotline")
    ids = lambda who: {c["id"] for c in client_for(world.users[who]).get("/api/v1/cases/").json()["results"]}  # noqa: E731
    assert ids("member_a") == {str(in_a.uuid)}
    assert ids("community") == {str(in_a.uuid), str(in_b.uuid)}
    assert ids("department") == set()
    assert client_for(world.users["member_a"]).get(f"/api/v1/cases/{in_b.uuid}/").status_code == 404
    services.file_case(in_b, actor=world.users["community"], level=4)
    services.transition(in_b, "dispatch", actor=world.users["coordinator"], lead_department=dept)
    assert ids("department") == {str(in_b.uuid)}


def test_reporter_contact_is_hidden_from_departments_unless_shared(world, dept) -> None:
    case, _ = services.case_report(
        category="facility-road",
        description="坑",
        location=IN_A,
        channel="hotline",
        reporter_phone="13800138000",
    )
    services.file_case(case, actor=world.users["community"])
    services.transition(case, "dispatch", actor=world.users["coordinator"], lead_department=dept)
    seen = lambda who: client_for(world.users[who]).get(f"/api/v1/cases/{case.uuid}/").json()["reporter"]  # noqa: E731
    assert seen("coordinator")["phone"] == "13800138000"
    assert seen("department") is None
    assert (
        "13800138000"
        not in client_for(world.users["department"]).get(f"/api/v1/cases/{case.uuid}/").content.decode()
    )
    Case.objects.filter(pk=case.pk).update(share_contact=True)
    assert seen("department")["phone"] == "13800138000"


def test_actions_through_the_api_report_role_state_and_conflict(world, dept) -> None:
    case, _ = services.case_report(
        category="facility-road", description="坑", location=IN_A, channel="hotline"
    )
    url = f"/api/v1/cases/{case.uuid}"
    member = client_for(world.users["member_a"])
    assert "file" not in member.get(f"{url}/").json()["actions"]
    r = member.post(f"{url}/file/", {}, format="json")
    assert r.status_code == 403 and r.json()["code"] == "cases.role"
    community = client_for(world.users["community"])
    assert "file" in community.get(f"{url}/").json()["actions"]
    r = community.post(f"{url}/file/", {"version": 0}, format="json")
    assert r.status_code == 200 and r.json()["state"]["code"] == "awaiting_dispatch"
    version = r.json()["version"]
    coordinator = client_for(world.users["coordinator"])
    r = coordinator.post(f"{url}/dispatch/", {"version": version, "lead_department": "nope"}, format="json")
    assert r.status_code == 400 and "lead_department" in r.json()
    r = coordinator.post(
        f"{url}/dispatch/", {"version": version, "lead_department": dept.code}, format="json"
    )
    assert r.status_code == 200 and r.json()["state"]["code"] == "dispatched"
    r = coordinator.post(
        f"{url}/dispatch/", {"version": version, "lead_department": dept.code}, format="json"
    )
    assert r.status_code == 409 and r.json()["code"] == "cases.conflict"
    r = coordinator.post(f"{url}/dispatch/", {"lead_department": dept.code}, format="json")
    assert r.status_code == 409 and r.json()["code"] == "cases.not_allowed"
    r = client_for(world.users["department"]).post(f"{url}/return/", {}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "comment"
    # The actions outside the state table name their missing field too, and write nothing.
    department = client_for(world.users["department"])
    r = department.post(f"{url}/extend/", {"comment": "等配件", "version": version + 1}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "minutes"
    r = community.post(f"{url}/evaluate/", {"comment": "好"}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "satisfaction"
    assert not case.extensions.exists()


def test_the_console_puts_returned_cases_first_and_suggests_departments(world, dept) -> None:
    from gridgov.dispatch.models import RoutingRule

    coordinator = world.users["coordinator"]
    cases = []
    for _ in range(3):
        c, _ = services.case_report(
            category="facility-light", description="灯", location=IN_A, channel="hotline"
        )
        cases.append(services.file_case(c, actor=world.users["community"]))
    RoutingRule.objects.create(category=cases[0].category, node_prefix="", department=dept)
    returned = services.transition(cases[2], "dispatch", actor=coordinator, lead_department=dept)
    services.transition(returned, "return", actor=world.users["department"], comment="不归我们管")
    r = client_for(coordinator).get("/api/v1/cases/console/").json()
    assert r["results"][0]["id"] == str(cases[2].uuid) and r["awaiting"] == 3
    assert {row["suggested_department"]["code"] for row in r["results"]} == {dept.code}
    # All three are street lights at the same spot within the window: each may duplicate the others.
    assert [row["possible_duplicates"] for row in r["results"]] == [2, 2, 2]
    assert any(w["code"] == dept.code for w in r["workload"])
    # Bulk dispatch is all or nothing: one case out of scope sinks the batch.
    outsider = str(uuid.uuid4())
    r = client_for(coordinator).post(
        "/api/v1/cases/dispatch/",
        {"cases": [str(cases[0].uuid), outsider], "lead_department": dept.code},
        format="json",
    )
    assert r.status_code == 400
    r = client_for(coordinator).post(
        "/api/v1/cases/dispatch/",
        {"cases": [str(c.uuid) for c in cases], "lead_department": dept.code},
        format="json",
    )
    assert r.status_code == 200 and len(r.json()["dispatched"]) == 3
    inbox = client_for(world.users["department"]).get("/api/v1/cases/inbox/").json()
    assert len(inbox["results"]) == 3
    load = client_for(coordinator).get("/api/v1/cases/console/").json()["workload"]
    assert [(w["code"], w["in_hand"], w["overdue"]) for w in load] == [(dept.code, 3, 0)]


@override_settings(GRIDGOV_CASE_RULES={"yellow_share": 0.25, "max_photo_bytes": 1000, "public_rate": "2/h"})
def test_residents_report_without_login_limited_track_and_evaluate(world) -> None:
    cache.clear()
    anon = APIClient()
    key = str(uuid.uuid4())
    r = anon.post(
        "/api/v1/public/reports/", body(IN_A, uuid=key, reporter_phone="13800138000"), format="json"
    )
    assert r.status_code == 201 and "13800138000" not in r.content.decode()
    token = r.json()["token"]
    again = anon.post("/api/v1/public/reports/", body(IN_A, uuid=key), format="json")
    assert again.status_code == 200 and again.json()["token"] == token  # a double submission
    assert anon.post("/api/v1/public/reports/", body(IN_A), format="json").status_code == 429
    track = anon.get(f"/api/v1/public/track/{token}/").json()
    assert track["status"] == "open" and track["description"] == "垃圾"
    case = Case.objects.get(token=token)
    assert case.channel == "web"
    services.file_case(case, actor=world.users["leader_a"])
    services.transition(case, "resolve", actor=world.users["member_a"])
    services.transition(case, "verify", actor=world.users["leader_a"], comment="已清理")
    assert (
        anon.post(f"/api/v1/public/track/{token}/evaluate/", {"satisfaction": 9}, format="json").status_code
        == 400
    )
    r = anon.post(
        f"/api/v1/public/track/{token}/evaluate/", {"satisfaction": 4, "comment": "好"}, format="json"
    )
    assert r.status_code == 200 and r.json()["satisfaction"] == 4 and r.json()["status"] == "closed"
    assert anon.get("/api/v1/public/track/not-a-token/").status_code == 404


def test_sensitive_categories_show_residents_status_only(world) -> None:
    case, _ = services.case_report(
        category="dispute-family",
        description="家里吵架",
        location=IN_A,
        channel="hotline",
        reporter_name="王",
    )
    track = APIClient().get(f"/api/v1/public/track/{case.token}/").json()
    assert "description" not in track and "家里吵架" not in str(track) and "王" not in str(track)


def test_monitoring_counts_what_the_user_sees(world) -> None:
    services.case_report(category="env-garbage", description="A", location=IN_A, channel="hotline")
    services.case_report(category="env-noise", description="B", location=IN_B, channel="hotline")
    mine = client_for(world.users["leader_a"]).get("/api/v1/cases/monitoring/").json()
    everyone = client_for(world.users["community"]).get("/api/v1/cases/monitoring/").json()
    assert (mine["open"], everyone["open"]) == (1, 2)
    assert {r["top"] for r in everyone["by_category"]} == {"environment"}
    other = f.UserFactory(username="c2", role="community", scope_code=world.other_community.code)
    assert client_for(other).get("/api/v1/cases/monitoring/").json()["open"] == 0


def test_notifications_are_the_users_own_and_can_be_marked_read(world) -> None:
    services.case_report(category="env-garbage", description="A", location=IN_A, channel="hotline")
    leader = client_for(world.users["leader_a"])
    mine = leader.get("/api/v1/notifications/?unread=1").json()
    assert mine["unread"] == 1 and mine["results"][0]["verb"] == "report"
    assert (
        client_for(world.users["member_a"]).get("/api/v1/notifications/").json()["unread"] == 1
    )  # their area
    assert client_for(world.users["street"]).get("/api/v1/notifications/").json()["unread"] == 0
    other = client_for(world.users["community"]).post(
        "/api/v1/notifications/read/", {"ids": [mine["results"][0]["id"]]}, format="json"
    )
    assert other.json()["marked"] == 0  # not theirs
    assert leader.post("/api/v1/notifications/read/", {"all": True}, format="json").json()["marked"] == 1
    assert leader.get("/api/v1/notifications/?unread=1").json()["unread"] == 0


def test_a_case_reported_with_a_visits_issue_id_is_linked_to_that_visit(world) -> None:
    from gridgov.visits.models import Visit

    key = uuid.uuid4()
    visit = Visit.objects.create(
        household=world.household_a, member=world.member_a, user=world.users["member_a"], channel="in_person",
        device_time="2026-11-20T10:00:00+08:00", received_at="2026-11-20T10:00:01+08:00", issue_ref=key,
    )  # fmt: skip
    r = client_for(world.users["member_a"]).post("/api/v1/cases/", body(IN_A, uuid=str(key)), format="json")
    case = Case.objects.get(uuid=r.json()["id"])
    assert case.visit == visit and case.channel == "visit"


def test_a_visit_synced_after_its_issue_links_to_it(world) -> None:
    key = uuid.uuid4()
    member = client_for(world.users["member_a"])
    r = member.post("/api/v1/cases/", body(IN_A, uuid=str(key)), format="json")
    case = Case.objects.get(uuid=r.json()["id"])
    assert case.visit is None and case.channel == "patrol"
    visit = {
        "id": str(uuid.uuid4()),
        "household": world.household_a.code,
        "channel": "phone",
        "device_time": "2026-11-20T10:00:00+08:00",
        "issue_ref": str(key),
    }
    synced = member.post("/api/v1/visits/sync/", {"visits": [visit]}, format="json").json()
    assert synced["created"] == 1, synced
    case.refresh_from_db()
    assert str(case.visit_id) == visit["id"] and case.channel == "visit"


@override_settings(GRIDGOV_CASE_RULES={"yellow_share": 0.25, "max_photo_bytes": 1000, "public_rate": "2/h"})
def test_case_photos_are_checked_on_upload_and_seen_only_through_the_scoped_view(
    world, tmp_path, settings
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    settings.MEDIA_ROOT = tmp_path
    case, _ = services.case_report(
        category="env-garbage", description="垃圾", location=IN_A, channel="hotline"
    )
    member = client_for(world.users["member_a"])
    url = f"/api/v1/cases/{case.uuid}/photos/"
    jpeg = b"\xff\xd8\xff\xe0" + b"2" * 200
    assert member.post(url, {"photo": SimpleUploadedFile("big.jpg", jpeg * 10)}).json().keys() == {"photo"}
    assert (
        member.post(url, {"photo": SimpleUploadedFile("x.jpg", b"<svg>not a photo</svg>")}).status_code == 400
    )
    r = member.post(url, {"photo": SimpleUploadedFile("p.jpg", jpeg)})
    assert r.status_code == 201
    seen_at = r.json()["url"]
    assert seen_at == f"/cases/{case.uuid}/photos/{r.json()['id']}/"
    assert member.get(f"/api/v1/cases/{case.uuid}/").json()["photos"][0]["url"] == seen_at

    for who in ("member_a", "leader_a", "street"):
        got = client(world, who).get(seen_at)
        assert got.status_code == 200 and b"".join(got.streaming_content) == jpeg, who
        assert got["Content-Type"] == "image/jpeg" and got["Cache-Control"].startswith("private")
    assert client(world, "department").get(seen_at).status_code == 404  # not dispatched to them
    assert Client().get(seen_at).status_code == 302
    assert (
        client(world, "member_a").get(f"/cases/{case.uuid}/photos/{r.json()['id'] + 1}/").status_code == 404
    )
    # A photo is stored under the type its bytes show, whatever the client called it: a "photo" named
    # .html cannot come back as a page.
    sneaky = member.post(
        url, {"photo": SimpleUploadedFile("x.html", jpeg[:4] + b"<script>alert(1)</script>")}
    )
    assert sneaky.status_code == 201
    got = client(world, "leader_a").get(sneaky.json()["url"])
    assert got["Content-Type"] == "image/jpeg" and CasePhoto.objects.get(
        pk=sneaky.json()["id"]
    ).image.name.endswith(".jpg")
