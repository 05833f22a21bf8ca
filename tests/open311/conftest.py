"""Open311 tests: the seeded loop and places of the issue tests, a client key and published issues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from gridgov.cases import services
from gridgov.cases.models import Case, CasePhoto
from gridgov.open311.models import ApiKey
from tests.cases.conftest import IN_A, IN_B, default_loop  # noqa: F401

# The reporter of every issue below; none of it may ever appear in a GET answer.
REPORTER = {"reporter_name": "张三丰", "reporter_phone": "13912345678", "reporter_email": "zhang@example.com"}


@pytest.fixture
def api_key(db) -> str:
    _key, raw = ApiKey.issue("partner-app")
    return raw


@dataclass
class Published:
    garbage: Case  # open, filed with a public note, a photo, the reporter's phone in the description
    noise: Case  # closed
    sewage: Case  # dispatched to a department
    dispute: Case  # sensitive
    old: Case  # reported 120 days ago


@pytest.fixture
def published(world, settings, tmp_path) -> Published:
    settings.MEDIA_ROOT = tmp_path
    admin = world.users["admin"]
    now = timezone.now()

    def report(category: str, description: str, where=IN_A, **kw) -> Case:
        case, _ = services.case_report(
            category=category, description=description, location=where, channel="hotline", **REPORTER, **kw
        )
        return case

    garbage = report("env-garbage", "楼下垃圾堆放 <多日> & 无人清理，请回电 139-1234-5678", address="A栋")
    services.file_case(garbage, actor=admin, comment="已安排清运")
    CasePhoto.objects.create(case=garbage, image=SimpleUploadedFile("p.jpg", b"jpeg", "image/jpeg"))

    noise = report("env-noise", "夜间施工噪声", where=IN_B, now=now - timedelta(hours=2))
    services.file_case(noise, actor=admin)
    services.transition(noise, "resolve", actor=admin, comment="已劝停")
    services.transition(noise, "verify", actor=admin, comment="现场核实已无噪声")

    sewage = report("env-sewage", "污水外溢", now=now - timedelta(hours=1))
    services.file_case(sewage, actor=admin)
    dept = world.users["department"].department
    services.transition(sewage, "dispatch", actor=admin, lead_department=dept)

    dispute = report("dispute-neighbour", "邻居噪音纠纷，张三丰与李四")
    services.file_case(dispute, actor=admin, comment="调解中")

    old = report("env-garbage", "旧的垃圾问题", now=now - timedelta(days=120))
    return Published(*(Case.objects.get(pk=c.pk) for c in (garbage, noise, sewage, dispute, old)))
