"""Issue pages (server-rendered): scoped by role, forms call the services, errors shown next to the field
and nothing written, double submissions create one case, the public form is rate-limited."""

from __future__ import annotations

import re
import uuid

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from gridgov.cases import services
from gridgov.cases.models import Case, CaseEvent, Extension
from gridgov.dispatch.models import RoutingRule

from .. import factories as f
from ..factories import client
from .conftest import IN_A, IN_B, OUTSIDE

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def report(point=IN_A, category="env-garbage", description="垃圾", **kw) -> Case:
    case, _ = services.case_report(
        category=category, description=description, location=point, channel="hotline", **kw
    )
    return case


def awaiting_dispatch(world, **kw) -> Case:
    case = report(category="facility-road", description="路面塌陷", **kw)
    return services.file_case(case, actor=world.users["community"])


def form(point=IN_A, **kw) -> dict:
    values = {
        "uuid": str(uuid.uuid4()),
        "category": "env-garbage",
        "description": "楼下垃圾堆放",
        "lon": str(point.x),
        "lat": str(point.y),
        "address": "A栋",
        "channel": "hotline",
        "reporter_phone": "",
        "reporter_email": "",
        "reporter_name": "",
    }
    values.update(kw)
    return values


@pytest.fixture
def dept(world):
    return world.users["department"].department


# --- access -------------------------------------------------------------------------------------------


def test_staff_pages_need_a_login_and_the_public_ones_do_not(world) -> None:
    case = report()
    anon = Client()
    for url in ["/cases/", "/cases/new/", "/cases/console/", "/cases/inbox/", "/cases/monitor/"]:
        r = anon.get(url)
        assert r.status_code == 302 and "/accounts/login/" in r["Location"], url
    r = anon.get(f"/cases/{case.uuid}/")
    assert r.status_code == 302 and "/accounts/login/" in r["Location"]
    assert anon.post(f"/cases/{case.uuid}/file/", {}).status_code == 302
    assert anon.get("/report/").status_code == 200
    assert anon.get(f"/track/{case.token}/").status_code == 200
    assert anon.get("/track/not-a-token/").status_code == 404
    login = text(anon.get("/accounts/login/"))
    assert 'href="/report/"' in login


@pytest.mark.parametrize(
    ("url", "allowed", "refused"),
    [
        ("/cases/console/", ["coordinator", "admin"], ["member_a", "community", "street", "department"]),
        ("/cases/inbox/", ["department", "admin"], ["member_a", "coordinator", "street"]),
        ("/cases/monitor/", ["street", "coordinator", "admin"], ["member_a", "leader_a", "department"]),
        (
            "/cases/",
            ["member_a", "leader_a", "community", "street", "coordinator", "department", "admin"],
            [],
        ),
        ("/cases/new/", ["member_a", "community", "coordinator", "department"], []),
    ],
)
def test_role_pages(world, url, allowed, refused) -> None:
    for who in allowed:
        assert client(world, who).get(url).status_code == 200, (url, who)
    for who in refused:
        assert client(world, who).get(url).status_code == 403, (url, who)


def test_the_nav_links_depend_on_the_role(world) -> None:
    def nav(who: str) -> str:
        return text(client(world, who).get("/")).split("</nav>")[0]

    assert "/cases/" in nav("member_a") and "/cases/console/" not in nav("member_a")
    assert "/cases/console/" in nav("coordinator") and "/cases/monitor/" in nav("coordinator")
    assert "/cases/inbox/" in nav("department") and "/cases/monitor/" not in nav("department")
    assert "/cases/monitor/" in nav("street") and "/cases/inbox/" not in nav("street")


def test_a_case_out_of_scope_is_not_found(world) -> None:
    in_b = report(IN_B)
    assert client(world, "member_a").get(f"/cases/{in_b.uuid}/").status_code == 404
    assert client(world, "department").get(f"/cases/{in_b.uuid}/").status_code == 404
    r = client(world, "member_a").post(f"/cases/{in_b.uuid}/note/", {"comment": "x"})
    assert r.status_code == 404 and not CaseEvent.objects.filter(action="note").exists()
    assert client(world, "community").get(f"/cases/{in_b.uuid}/").status_code == 200


# --- the list -----------------------------------------------------------------------------------------


def test_the_list_is_scoped_filtered_and_shows_lights_and_supervision(world) -> None:
    in_a = report(IN_A, description="A")
    in_b = report(IN_B, description="B")
    services.supervise(in_b, actor=world.users["street"], comment="催办")
    Case.objects.filter(pk=in_a.pk).update(
        deadline="2000-01-01T00:00:00Z", warn_at="2000-01-01T00:00:00Z", light="red"
    )
    member = text(client(world, "member_a").get("/cases/"))
    assert in_a.reference in member and in_b.reference not in member
    assert '<span class="light light-red"><i aria-hidden="true"></i>overdue</span>' in member  # colour, text
    community = client(world, "community")
    page = text(community.get("/cases/"))
    assert in_a.reference in page and in_b.reference in page
    row_b = re.search(r"<tr data-id=[^>]*>(?:(?!</tr>).)*" + in_b.reference + r".*?</tr>", page, re.S).group(
        0
    )
    assert '<span class="supervised">Supervised</span>' in row_b  # the badge, not the filter's label
    assert '<span class="supervised">' not in page.replace(row_b, "")
    assert 'id="case-points"' in page and str(in_b.location.x) in page
    only = text(community.get("/cases/?supervised=1"))
    assert in_b.reference in only and in_a.reference not in only
    red = text(community.get("/cases/?light=red"))
    assert in_a.reference in red and in_b.reference not in red
    assert community.get("/cases/?level=abc&light=blue&state=nope&page=x").status_code == 200
    assert in_a.reference in text(community.get("/cases/?category=environment&open=1&level=1"))


# --- staff report -------------------------------------------------------------------------------------


def test_staff_report_redirects_to_the_case_with_duplicates_and_a_double_submission_is_one_case(
    world,
) -> None:
    first = report(IN_A, description="早上的垃圾")
    hotline = client(world, "community")
    data = form()
    r = hotline.post("/cases/new/", data)
    case = Case.objects.get(uuid=data["uuid"])
    assert r.status_code == 302 and r["Location"] == f"/cases/{case.uuid}/"
    assert case.channel == "hotline" and case.reported_by == world.users["community"]
    again = hotline.post("/cases/new/", data)
    assert again.status_code == 302 and again["Location"] == r["Location"]
    assert Case.objects.count() == 2
    page = text(hotline.get(r["Location"]))
    assert "Possible duplicates" in page and first.reference in page
    assert "Merge this issue into it" in page  # community may merge
    member_page = text(client(world, "member_a").get(f"/cases/{first.uuid}/"))
    assert "Possible duplicates" in member_page and "Merge this issue into it" not in member_page


def test_staff_report_with_errors_shows_them_at_the_field_and_writes_nothing(world) -> None:
    c = client(world, "member_a")
    r = c.post("/cases/new/", form(description="", lon="", category="nope"))
    assert r.status_code == 400
    page = text(r)
    assert 'id="error-description"' in page and 'id="error-lon"' in page and 'id="error-category"' in page
    r = c.post("/cases/new/", form(point=OUTSIDE))
    assert r.status_code == 400
    assert re.search(r'id="error-lon"[^>]*>The location is outside every grid', text(r))
    r = c.post("/cases/new/", form(reporter_phone="call me"))
    assert r.status_code == 400 and 'id="error-reporter_phone"' in text(r)
    assert not Case.objects.exists() and not CaseEvent.objects.exists()


def test_a_form_cannot_reuse_another_report_id(world) -> None:
    other = report(IN_A)
    r = client(world, "member_a").post("/cases/new/", form(uuid=str(other.uuid)))
    assert r.status_code == 400 and "belongs to another report" in text(r)
    assert Case.objects.count() == 1


# --- the case page and its actions --------------------------------------------------------------------


def test_the_case_page_offers_the_allowed_actions_with_the_routing_suggestion(world, dept) -> None:
    case = awaiting_dispatch(world, reporter_phone="13800138000")
    RoutingRule.objects.create(category=case.category, node_prefix="", department=dept)
    page = text(client(world, "coordinator").get(f"/cases/{case.uuid}/"))
    assert 'id="action-dispatch"' in page and 'id="action-send_back"' in page
    assert re.search(rf'<option value="{dept.code}" selected>', page)
    assert f'name="version" value="{case.version}"' in page
    assert "13800138000" in page and "/track/" in page
    timeline = page.split('id="timeline"')[1]
    assert "reported" in timeline and "file (立案)" in timeline and "refer to the coordinators" in timeline
    member = text(client(world, "member_a").get(f"/cases/{case.uuid}/"))
    assert 'id="action-dispatch"' not in member and 'id="action-note"' in member


def test_actions_move_the_case_and_errors_write_nothing(world, dept) -> None:
    case = report(category="facility-road", description="路面塌陷")
    community = client(world, "community")
    r = community.post(f"/cases/{case.uuid}/file/", {"version": case.version, "level": "4"})
    assert r.status_code == 302 and r["Location"] == f"/cases/{case.uuid}/"
    case.refresh_from_db()
    assert case.state_id == "awaiting_dispatch"
    coordinator = client(world, "coordinator")
    stale = case.version - 1
    events = CaseEvent.objects.count()
    r = coordinator.post(f"/cases/{case.uuid}/dispatch/", {"version": stale, "lead_department": dept.code})
    assert r.status_code == 409 and "Someone else changed this issue" in text(r)
    r = coordinator.post(f"/cases/{case.uuid}/dispatch/", {"version": case.version, "lead_department": ""})
    assert r.status_code == 400 and "Choose the lead department." in text(r)
    r = coordinator.post(f"/cases/{case.uuid}/dispatch/", {"version": case.version, "lead_department": "x"})
    assert r.status_code == 400 and "Unknown department." in text(r)
    r = coordinator.post(f"/cases/{case.uuid}/send_back/", {"version": case.version, "comment": " "})
    assert r.status_code == 400
    assert re.search(r"A reason is required for[^<]*</p>\s*<button", text(r))  # under the comment field
    assert CaseEvent.objects.count() == events
    case.refresh_from_db()
    assert case.state_id == "awaiting_dispatch" and case.lead_department is None
    r = coordinator.post(
        f"/cases/{case.uuid}/dispatch/", {"version": case.version, "lead_department": dept.code}
    )
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.state_id == "dispatched" and case.lead_department == dept
    # The role check is the service's: a member is refused and told why.
    r = client(world, "member_a").post(f"/cases/{case.uuid}/sign/", {"version": case.version})
    assert r.status_code in {403, 404}


def test_supervise_note_extension_and_decision(world) -> None:
    case = report()
    case = services.file_case(case, actor=world.users["leader_a"])
    street = client(world, "street")
    r = street.post(f"/cases/{case.uuid}/supervise/", {"version": case.version - 1, "comment": "快办"})
    assert r.status_code == 409
    r = street.post(f"/cases/{case.uuid}/supervise/", {"version": case.version, "comment": "快办"})
    assert r.status_code == 302 and Case.objects.get(pk=case.pk).supervised
    member = client(world, "member_a")
    r = member.post(f"/cases/{case.uuid}/note/", {"comment": "已联系物业", "public": "1"})
    assert r.status_code == 302 and CaseEvent.objects.get(action="note").public
    r = member.post(f"/cases/{case.uuid}/extend/", {"minutes": "5", "comment": "等配件"})
    assert r.status_code == 400 and "30 working minutes" in text(r) and not Extension.objects.exists()
    r = member.post(f"/cases/{case.uuid}/extend/", {"minutes": "420", "comment": "等配件"})
    assert r.status_code == 302
    ext = Extension.objects.get()
    page = text(client(world, "community").get(f"/cases/{case.uuid}/"))
    assert "Extension requests" in page and f"/cases/extensions/{ext.pk}/decide/" in page
    assert f"/cases/extensions/{ext.pk}/decide/" not in text(member.get(f"/cases/{case.uuid}/"))
    r = member.post(f"/cases/extensions/{ext.pk}/decide/", {"approve": "1"})
    assert r.status_code == 403 and Extension.objects.get().approved is None
    r = client(world, "community").post(
        f"/cases/extensions/{ext.pk}/decide/", {"approve": "1", "note": "同意"}
    )
    assert r.status_code == 302 and Extension.objects.get().approved is True


def test_merge_from_the_duplicates(world) -> None:
    first = report(IN_A, description="一")
    second = report(IN_A, description="二")
    community = client(world, "community")
    r = community.post(f"/cases/{second.uuid}/merge/", {"version": second.version, "into": str(first.uuid)})
    assert r.status_code == 400 and Case.objects.get(pk=second.pk).state_id == "reported"
    r = community.post(
        f"/cases/{second.uuid}/merge/", {"version": second.version, "into": "nope", "comment": "x"}
    )
    assert r.status_code == 400 and "No such issue in your scope." in text(r)
    wrong_day = "19990101-" + first.reference.split("-")[1]  # the right id under another date
    r = community.post(
        f"/cases/{second.uuid}/merge/", {"version": second.version, "into": wrong_day, "comment": "x"}
    )
    assert r.status_code == 400 and "No such issue in your scope." in text(r)
    r = community.post(
        f"/cases/{second.uuid}/merge/",
        {"version": second.version, "into": first.reference, "comment": "同一处"},
    )
    assert r.status_code == 302
    second.refresh_from_db()
    assert second.state_id == "merged" and second.merged_into == first


# --- console, inbox, monitoring -----------------------------------------------------------------------


def test_console_returned_first_with_suggestions_and_bulk_dispatch(world, dept) -> None:
    cases = [awaiting_dispatch(world) for _ in range(3)]
    RoutingRule.objects.create(category=cases[0].category, node_prefix="", department=dept)
    services.transition(cases[2], "dispatch", actor=world.users["coordinator"], lead_department=dept)
    services.transition(cases[2], "return", actor=world.users["department"], comment="不归我们管")
    coordinator = client(world, "coordinator")
    page = text(coordinator.get("/cases/console/"))
    rows = re.findall(r'<tr data-id="([0-9a-f-]+)"', page)
    assert rows[0] == str(cases[2].uuid) and len(rows) == 3
    assert "returned 1 time" in page and page.count("Dispatch to it") == 3
    assert page.count("possible duplicates") == 3  # three street lights at one spot
    assert re.search(rf"<td>{re.escape(dept.name)}</td><td class=\"num\">0</td>", page)  # workload
    r = coordinator.post("/cases/console/dispatch/", {"lead_department": dept.code})
    assert r.status_code == 400 and "Tick at least one issue." in text(r)
    r = coordinator.post("/cases/console/dispatch/", {"cases": [str(cases[0].uuid)]})
    assert r.status_code == 400 and "Choose the lead department." in text(r)
    r = coordinator.post(
        "/cases/console/dispatch/",
        {"cases": [str(cases[0].uuid), str(uuid.uuid4())], "lead_department": dept.code},
    )
    assert r.status_code == 400 and "outside your scope" in text(r)
    assert Case.objects.filter(state_id="dispatched").count() == 0
    r = coordinator.post(
        "/cases/console/dispatch/", {"cases": [str(c.uuid) for c in cases[:2]], "lead_department": dept.code}
    )
    assert r.status_code == 302 and Case.objects.filter(state_id="dispatched").count() == 2
    assert "2 issues dispatched" in text(coordinator.get("/cases/console/"))
    # One row dispatched to its suggestion, back to the console.
    r = coordinator.post(
        f"/cases/{cases[2].uuid}/dispatch/",
        {
            "version": Case.objects.get(pk=cases[2].pk).version,
            "lead_department": dept.code,
            "next": "/cases/console/",
        },
    )
    assert r.status_code == 302 and r["Location"] == "/cases/console/"


def test_inbox_sign_feed_back_and_return_from_the_row(world, dept) -> None:
    one, two = awaiting_dispatch(world), awaiting_dispatch(world)
    services.bulk_dispatch([one, two], actor=world.users["coordinator"], lead_department=dept)
    inbox = client(world, "department")
    page = text(inbox.get("/cases/inbox/"))
    to_sign = page.split('id="to-sign"')[1].split('id="in-hand"')[0]
    assert one.reference in to_sign and two.reference in to_sign and "Sign for it" in to_sign
    one.refresh_from_db()
    r = inbox.post(f"/cases/{one.uuid}/sign/", {"version": one.version, "next": "/cases/inbox/"})
    assert r.status_code == 302 and r["Location"] == "/cases/inbox/"
    one.refresh_from_db()
    r = inbox.post(
        f"/cases/{one.uuid}/feedback/", {"version": one.version, "comment": "", "next": "/cases/inbox/"}
    )
    assert r.status_code == 400 and "A reason is required" in text(r)
    r = inbox.post(
        f"/cases/{one.uuid}/feedback/", {"version": one.version, "comment": "已修复", "next": "/cases/inbox/"}
    )
    assert r.status_code == 302 and Case.objects.get(pk=one.pk).state_id == "awaiting_verification"
    two.refresh_from_db()
    r = inbox.post(f"/cases/{two.uuid}/return/", {"version": two.version, "comment": "不归我们管"})
    assert r.status_code == 302 and r["Location"] == "/cases/inbox/"  # no longer visible to the department
    assert Case.objects.get(pk=two.pk).state_id == "awaiting_dispatch"
    page = text(inbox.get("/cases/inbox/"))
    assert "Department metrics" in page and dept.name in page.split('id="metrics"')[1]
    assert "Nothing to sign for." in page


def test_monitoring_page_counts_the_scope(world) -> None:
    report(IN_A)
    report(IN_B, category="env-noise")
    case = report(IN_A, category="hazard-fire", description="楼道堆物")
    services.supervise(case, actor=world.users["street"], comment="督办")
    page = text(client(world, "street").get("/cases/monitor/"))
    assert 'data-key="open">3<' in page and 'data-key="supervised">1<' in page
    assert "Environment and sanitation" in page and "Hidden dangers" in page
    assert 'data-api="/api/v1/cases/monitoring/"' in page and 'id="monitor-labels"' in page


# --- residents ----------------------------------------------------------------------------------------


@override_settings(GRIDGOV_CASE_RULES={"yellow_share": 0.25, "max_photo_bytes": 1000, "public_rate": "3/h"})
def test_public_report_tracking_double_submission_and_rate_limit(world) -> None:
    cache.clear()
    anon = Client()
    assert "Report an issue in your neighbourhood" in text(anon.get("/report/"))
    data = form(reporter_phone="13800138000")
    r = anon.post("/report/", data)
    case = Case.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/track/{case.token}/?new=1"
    assert case.channel == "web" and case.reporter_phone == "13800138000"
    assert anon.post("/report/", data)["Location"] == r["Location"]  # a double submission
    assert Case.objects.count() == 1
    page = text(anon.get(r["Location"]))
    assert "your report was received" in page and f"/track/{case.token}/" in page
    assert "楼下垃圾堆放" in page and "13800138000" not in page
    bad = anon.post("/report/", form(description=""))
    assert bad.status_code == 400 and 'id="error-description"' in text(bad)
    limited = anon.post("/report/", form())
    assert limited.status_code == 429 and "Too many reports" in text(limited)
    assert Case.objects.count() == 1


def test_public_outlines_are_names_and_shapes_only(world) -> None:
    cache.clear()
    body = Client().get("/report/outlines.json").json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 2
    assert set(body["features"][0]["properties"]) == {"name"}


def test_tracking_shows_status_public_notes_and_evaluation_once_closed(world) -> None:
    case = report(reporter_name="王")
    services.file_case(case, actor=world.users["leader_a"], comment="已受理")
    services.add_note(case, actor=world.users["member_a"], comment="内部备注")
    anon = Client()
    page = text(anon.get(f"/track/{case.token}/"))
    assert "已受理" in page and "内部备注" not in page and "王" not in page
    assert "Expected by" in page and 'id="evaluate"' not in page
    services.transition(case, "resolve", actor=world.users["member_a"])
    services.transition(case, "verify", actor=world.users["leader_a"], comment="已清理")
    page = text(anon.get(f"/track/{case.token}/"))
    assert 'id="evaluate"' in page and "已清理" in page
    r = anon.post(f"/track/{case.token}/", {"satisfaction": "9"})
    assert r.status_code == 400 and "from 1 to 5" in text(r) and Case.objects.get().satisfaction is None
    r = anon.post(f"/track/{case.token}/", {"satisfaction": "4", "comment": "好"})
    assert r.status_code == 302 and Case.objects.get().satisfaction == 4
    assert 'id="evaluate"' not in text(anon.get(f"/track/{case.token}/"))


def test_sensitive_categories_show_status_only(world) -> None:
    case = report(category="dispute-family", description="家里吵架", address="3栋201")
    page = text(Client().get(f"/track/{case.token}/"))
    assert "家里吵架" not in page and "3栋201" not in page and 'id="status"' in page


def test_other_districts_user_sees_nothing(world) -> None:
    report(IN_A)
    other = f.UserFactory(username="c2", role="community", scope_code=world.other_community.code)
    c = Client()
    c.force_login(other)
    assert "No issues." in text(c.get("/cases/"))


def test_notices_show_in_the_nav_and_can_be_read(world) -> None:
    case = report(IN_A, description="A")  # the grid leader is told
    leader = client(world, "leader_a")
    home = text(leader.get("/cases/"))
    assert re.search(r'id="nav-notifications">[^<]*<span class="badge">1</span>', home)
    page = text(leader.get("/cases/notifications/"))
    assert 'class="unread"' in page and f"/cases/{case.uuid}/" in page  # the notice links to its case
    assert leader.post("/cases/notifications/").status_code == 302
    assert (
        'class="badge"'
        not in text(leader.get("/cases/notifications/")).split('id="nav-notifications"')[1][:80]
    )
    assert "No notices." in text(client(world, "street").get("/cases/notifications/"))


def test_the_list_pages_without_counting(world, monkeypatch) -> None:
    import gridgov.cases.views as views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    refs = [report(IN_A, description=f"第{i}件").reference for i in range(3)]
    community = client(world, "community")
    first, second = text(community.get("/cases/")), text(community.get("/cases/?page=2"))
    assert "Page 1" in first and "page=2" in first and " of " not in first.split('class="pager"')[1][:200]
    assert sum(r in first for r in refs) == 2 and sum(r in second for r in refs) == 1
    assert "page=1" in second and "page=3" not in second
