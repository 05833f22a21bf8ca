"""The closed loop: every transition through the state table, with its role, scope and state checks."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction

from gridgov.cases import selectors, services
from gridgov.cases.models import Case, CaseEvent, CaseTransition, Level
from gridgov.core.errors import GridgovError
from gridgov.dispatch.models import Notification, OutboundMessage, RoutingRule

from .. import factories as f
from .conftest import IN_A

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def depts(world):
    district = world.community.street.district
    return {
        "city": f.DepartmentFactory(district=district, code="CG", name="城管局"),
        "water": f.DepartmentFactory(district=district, code="SW", name="水务局"),
    }


def new_case(world, category="env-garbage", **kw):
    values = {
        "category": category,
        "description": "问题",
        "location": IN_A,
        "channel": "hotline",
        "reporter_phone": "13800138000",
    }
    values.update(kw)
    return services.case_report(**values)[0]


def actions(case):
    return list(case.events.values_list("action", "from_state", "to_state", "from_level", "to_level"))


def test_small_matters_close_in_the_grid(world) -> None:
    u = world.users
    case = new_case(world)
    case = services.file_case(case, actor=u["leader_a"])
    assert (case.state_id, case.level) == ("handling", Level.GRID)
    case = services.transition(case, "resolve", actor=u["member_a"], comment="已清运")
    assert case.state_id == "awaiting_verification"
    case = services.transition(case, "verify", actor=u["leader_a"])
    assert (
        case.state_id == "closed" and case.closed_on_time and case.deadline is None and case.sweep_at is None
    )
    assert [a[0] for a in actions(case)] == ["report", "file", "resolve", "verify"]
    # The reporter had an SMS at intake and another asking for an evaluation.
    assert OutboundMessage.objects.filter(case=case, channel="sms").count() == 2
    services.evaluate(case, satisfaction=5, comment="很快")
    case.refresh_from_db()
    assert case.satisfaction == 5
    with pytest.raises(GridgovError) as err:
        services.evaluate(case, satisfaction=4)
    assert err.value.code == "cases.invalid"


def test_big_matters_climb_to_a_department_and_back(world, depts) -> None:
    u = world.users
    case = services.file_case(new_case(world), actor=u["leader_a"])
    case = services.transition(case, "escalate", actor=u["member_a"], comment="需要社区协调")
    assert case.level == Level.COMMUNITY and case.escalations == 1
    case = services.transition(case, "escalate", actor=u["community"], comment="需要街道")
    case = services.transition(case, "refer", actor=u["street"], comment="需要职能部门")
    assert (case.state_id, case.level) == ("awaiting_dispatch", Level.DISTRICT)
    case = services.transition(
        case, "dispatch", actor=u["coordinator"], lead_department=depts["city"], assisting=[depts["water"]]
    )
    assert case.state_id == "dispatched" and case.lead_department == depts["city"]
    assert set(case.assisting_departments.all()) == {depts["water"]}
    assert Notification.objects.filter(case=case, verb="dispatch", user=u["department"]).exists() is False
    case = services.transition(case, "return", actor=u["admin"], comment="不属于本部门职责")
    assert case.state_id == "awaiting_dispatch" and case.returns == 1 and case.lead_department is None
    case = services.transition(
        case, "dispatch", actor=u["coordinator"], lead_department=u["department"].department
    )
    case = services.transition(case, "sign", actor=u["department"])
    case = services.transition(case, "feedback", actor=u["department"], comment="已修复")
    assert case.state_id == "awaiting_verification" and case.state.step == "verify"
    assert case.step_started_at < case.warn_at < case.deadline
    case = services.transition(case, "verify_fail", actor=u["member_a"], comment="现场仍未修复")
    assert case.state_id == "department_handling"
    case = services.transition(case, "feedback", actor=u["department"], comment="已再次修复")
    case = services.transition(case, "verify", actor=u["member_a"])
    assert case.state_id == "closed" and case.closed_on_time is False  # escalated on the way
    case = services.transition(case, "reopen", actor=u["coordinator"], comment="居民反映复发")
    assert case.state_id == "department_handling" and case.closed_at is None
    assert Case.objects.get(pk=case.pk).is_open is True


def test_department_categories_go_straight_to_the_coordinators_when_filed(world) -> None:
    case = services.file_case(new_case(world, "facility-manhole"), actor=world.users["community"])
    assert (case.state_id, case.level) == ("awaiting_dispatch", Level.DISTRICT)
    assert [a[0] for a in actions(case)] == ["report", "file", "refer"]


def test_department_handling_time_counts_office_hours_only(world) -> None:
    u = world.users
    case = services.file_case(new_case(world, "facility-manhole"), actor=u["community"])
    dept = u["department"].department
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=SH)
    monday = datetime(2026, 11, 30, tzinfo=SH)
    case = services.transition(case, "dispatch", actor=u["coordinator"], lead_department=dept, now=friday_4pm)
    case = services.transition(case, "sign", actor=u["department"], now=friday_4pm)
    case = services.transition(
        case, "feedback", actor=u["department"], comment="已修复", now=monday.replace(hour=9, minute=30)
    )
    case = services.transition(case, "verify", actor=u["member_a"], now=monday.replace(hour=10))
    # Friday 16:00–17:30 and Monday 08:30–10:00: three office hours, not the 66 hours on the clock.
    assert case.handling_minutes == 180
    [row] = selectors.department_metrics(u["coordinator"])
    assert row["lead_department__code"] == dept.code and row["handling_hours"] == 3.0
    case = services.transition(
        case, "reopen", actor=u["coordinator"], comment="复发", now=monday.replace(hour=11)
    )
    assert case.handling_minutes is None


@pytest.mark.parametrize(
    ("who", "action", "code"),
    [
        ("member_a", "file", "cases.role"),  # members report, staff file
        ("department", "file", "scope.denied"),  # not dispatched to them: they cannot see it
        ("coordinator", "sign", "cases.not_allowed"),  # not in a state where signing exists
    ],
)
def test_actions_outside_role_state_or_scope_are_refused(world, who, action, code) -> None:
    case = new_case(world)
    with pytest.raises(GridgovError) as err:
        services.transition(case, action, actor=world.users[who])
    assert err.value.code == code
    case.refresh_from_db()
    assert case.state_id == "reported" and case.version == 0 and case.events.count() == 1


def test_a_community_cannot_resolve_a_grid_level_case_nor_another_department_sign(world, depts) -> None:
    u = world.users
    case = services.file_case(new_case(world), actor=u["leader_a"])
    with pytest.raises(GridgovError) as err:
        services.transition(case, "resolve", actor=u["community"])
    assert err.value.code == "cases.role"
    case = services.file_case(new_case(world, "facility-road"), actor=u["community"])
    case = services.transition(case, "dispatch", actor=u["coordinator"], lead_department=depts["city"])
    with pytest.raises(GridgovError) as err:  # the department user belongs to another department
        services.transition(case, "sign", actor=u["department"])
    assert err.value.code == "scope.denied"


def test_reasons_are_required_where_the_table_says_so(world) -> None:
    case = new_case(world)
    with pytest.raises(GridgovError) as err:
        services.transition(case, "decline", actor=world.users["leader_a"], comment=" ")
    assert err.value.code == "cases.comment_required" and err.value.params["field"] == "comment"
    declined = services.transition(case, "decline", actor=world.users["leader_a"], comment="重复投诉")
    assert declined.state_id == "declined" and declined.closed_at is not None


def test_the_state_table_is_data(world) -> None:
    # An administrator lets community staff file cases no longer: the service follows the table.
    rule = CaseTransition.objects.get(from_state="reported", action="file")
    rule.roles = [r for r in rule.roles if r != "community"]
    rule.save()
    with pytest.raises(GridgovError) as err:
        services.file_case(new_case(world), actor=world.users["community"])
    assert err.value.code == "cases.role"


def test_a_stale_version_is_a_conflict(world, depts) -> None:
    case = services.file_case(new_case(world, "facility-road"), actor=world.users["community"])
    seen = case.version
    services.transition(case, "dispatch", actor=world.users["coordinator"], lead_department=depts["city"])
    with pytest.raises(GridgovError) as err:
        services.transition(
            case,
            "dispatch",
            actor=world.users["admin"],
            lead_department=depts["water"],
            expected_version=seen,
        )
    assert err.value.code == "cases.conflict" and err.value.http_status == 409
    # Supervision and extension requests, outside the state table, are refused on a stale page alike.
    with pytest.raises(GridgovError) as err:
        services.supervise(case, actor=world.users["coordinator"], comment="催办", expected_version=seen)
    assert err.value.code == "cases.conflict"
    with pytest.raises(GridgovError) as err:
        services.request_extension(
            case, actor=world.users["admin"], minutes=60, reason="等配件", expected_version=seen
        )
    assert err.value.code == "cases.conflict"


def test_merging_keeps_every_reporter_informed(world) -> None:
    u = world.users
    first = new_case(world)
    second = new_case(world, reporter_phone="13900139000")
    services.transition(second, "merge", actor=u["community"], comment="同一处垃圾", into=first)
    second.refresh_from_db()
    assert second.state_id == "merged" and second.merged_into == first
    assert first.events.filter(action="merged_in").exists()
    first = services.file_case(first, actor=u["leader_a"])
    first = services.transition(first, "resolve", actor=u["member_a"])
    before = set(OutboundMessage.objects.values_list("pk", flat=True))
    services.transition(first, "verify", actor=u["leader_a"])
    closing = OutboundMessage.objects.exclude(pk__in=before).values_list("recipient", flat=True)
    assert sorted(closing) == ["13800138000", "13900139000"]


def test_routing_rules_suggest_the_most_specific_department(world, depts) -> None:
    case = new_case(world, "env-sewage")
    assert services.suggest_department(case) is None
    case.category.department = depts["water"]
    case.category.save()
    assert services.suggest_department(case) == depts["water"]  # the category's default
    depts["water"].active = False
    depts["water"].save()
    assert services.suggest_department(case) is None  # a closed department is never suggested
    depts["water"].active = True
    depts["water"].save()
    RoutingRule.objects.create(category=case.category, node_prefix="", department=depts["city"])
    assert services.suggest_department(case) == depts["city"]  # a rule beats the default
    RoutingRule.objects.create(
        category=case.category, node_prefix=world.community.code, department=depts["water"]
    )
    RoutingRule.objects.create(
        category=case.category, node_prefix=world.grid_b.code, department=depts["city"]
    )
    assert services.suggest_department(case) == depts["water"]


def test_extensions_are_decided_one_level_up(world) -> None:
    u = world.users
    case = services.file_case(new_case(world), actor=u["leader_a"])
    ext = services.request_extension(case, actor=u["member_a"], minutes=420, reason="需要等待物业")
    with pytest.raises(GridgovError) as err:
        services.request_extension(case, actor=u["member_a"], minutes=420, reason="再要一次")
    assert err.value.code == "cases.invalid"
    with pytest.raises(GridgovError) as err:
        services.decide_extension(ext, actor=u["leader_a"], approve=True)  # same level
    assert err.value.code == "cases.role"
    before = case.deadline
    services.decide_extension(ext, actor=u["community"], approve=True)
    case.refresh_from_db()
    assert case.deadline > before and case.light == "green" and case.sweep_at == case.warn_at


def test_the_timeline_is_append_only(world) -> None:
    event = new_case(world).events.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        CaseEvent.objects.filter(pk=event.pk).update(comment="rewritten")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM cases_caseevent WHERE id = %s", [event.pk])


def test_the_right_people_hear_of_each_step(world) -> None:
    u = world.users
    dept = u["department"].department
    heard = lambda case, verb: set(  # noqa: E731
        Notification.objects.filter(case=case, verb=verb).values_list("user__username", flat=True)
    )
    case = services.file_case(new_case(world, "facility-road"), actor=u["community"])
    assert heard(case, "refer") == {"coordinator"}
    case = services.transition(case, "dispatch", actor=u["coordinator"], lead_department=dept)
    assert heard(case, "dispatch") == {"department"}
    case = services.transition(case, "sign", actor=u["department"])
    case = services.transition(case, "feedback", actor=u["department"], comment="已修复")
    assert heard(case, "feedback") == {"leader_a", "member_a"}  # the grid verifies on site
    local = services.file_case(new_case(world), actor=u["leader_a"])
    local = services.transition(local, "escalate", actor=u["member_a"], comment="需要社区")
    assert heard(local, "escalate") == {"community"}
    services.supervise(local, actor=u["coordinator"], comment="请加快")
    assert heard(local, "supervise") == {"community"}


def test_the_allowed_actions_cost_one_query(world, django_assert_num_queries) -> None:
    case = services.file_case(new_case(world), actor=world.users["leader_a"])
    case = Case.objects.select_related("state", "category").get(pk=case.pk)
    with django_assert_num_queries(1):  # the state's transitions, read once
        actions = services.allowed_actions(case, world.users["member_a"])
    assert {"resolve", "escalate", "note"} <= set(actions) and "file" not in actions
