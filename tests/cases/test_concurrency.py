"""Two coordinators dispatch the same case at the same moment: one wins, the other gets a conflict."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from gridgov.cases import services
from gridgov.cases.models import Case
from gridgov.core.errors import GridgovError

from .. import factories as f
from .conftest import IN_A


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatch_one_wins_the_other_gets_a_conflict(world) -> None:
    district = world.community.street.district
    a = f.DepartmentFactory(district=district, code="CG")
    b = f.DepartmentFactory(district=district, code="SW")
    case, _ = services.case_report(
        category="facility-road", description="路面塌陷", location=IN_A, channel="hotline"
    )
    case = services.file_case(case, actor=world.users["community"])
    seen = case.version
    coordinator2 = f.UserFactory(username="coordinator2", role="coordinator", scope_code="440308")
    barrier = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def dispatch(name: str, user, department) -> None:
        try:
            barrier.wait(timeout=10)
            services.transition(
                case.pk, "dispatch", actor=user, lead_department=department, expected_version=seen
            )
            outcome[name] = "ok"
        except GridgovError as exc:
            outcome[name] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=dispatch, args=("one", world.users["coordinator"], a)),
        threading.Thread(target=dispatch, args=("two", coordinator2, b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    results = sorted(outcome.values(), key=str)
    assert len(results) == 2 and results.count("ok") == 1
    loser = next(r for r in results if r != "ok")
    assert isinstance(loser, GridgovError) and loser.code == "cases.conflict" and loser.http_status == 409
    case = Case.objects.get(pk=case.pk)
    assert case.state_id == "dispatched" and case.version == seen + 1
    assert case.events.filter(action="dispatch").count() == 1
