"""Demo issues for the demo city: routing rules to the demo departments, and a few hundred synthetic
cases spread over the last weeks at every stage of the loop, made through the services (so every one
has a true timeline), then swept so overdue ones are escalated or supervised as they would have been.
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from gridgov.accounts.models import Role, User
from gridgov.dispatch.models import Department, RoutingRule
from gridgov.geo.models import ResponsibilityArea

from . import services, tally
from .models import Case, Category

# Category → demo department code (gridgov.geo.demo_load.DEMO_DEPARTMENTS).
DEMO_ROUTING = {
    "hazard-fire": "YT-YJ",
    "hazard-gas": "YT-ZJ",
    "hazard-structure": "YT-ZJ",
    "env-garbage": "YT-CG",
    "env-sewage": "YT-SW",
    "env-noise": "YT-GA",
    "order-security": "YT-GA",
    "order-construction": "YT-CG",
    "livelihood-service": "YT-MZ",
    "vulnerable-hardship": "YT-MZ",
    "facility-road": "YT-CG",
    "facility-light": "YT-CG",
    "facility-manhole": "YT-SW",
}
DESCRIPTIONS = {
    "dispute-neighbour": "楼上漏水引发邻里纠纷（演示数据）",
    "dispute-family": "家庭矛盾需要调解（演示数据）",
    "dispute-property": "业主与物业就停车费发生争议（演示数据）",
    "dispute-labour": "工地拖欠工资（演示数据）",
    "hazard-fire": "楼道堆放杂物堵塞消防通道（演示数据）",
    "hazard-gas": "居民反映闻到燃气味（演示数据）",
    "hazard-structure": "外墙瓷砖有脱落风险（演示数据）",
    "env-garbage": "垃圾桶满溢未及时清运（演示数据）",
    "env-sewage": "路边井口污水外溢（演示数据）",
    "env-noise": "夜间施工噪声扰民（演示数据）",
    "order-security": "小区门禁损坏（演示数据）",
    "order-construction": "天台疑似违法搭建（演示数据）",
    "livelihood-service": "希望增设长者饭堂（演示数据）",
    "livelihood-policy": "咨询医保报销政策（演示数据）",
    "vulnerable-elderly": "独居老人多日未出门（演示数据）",
    "vulnerable-hardship": "困难家庭申请临时救助（演示数据）",
    "facility-road": "人行道地砖破损（演示数据）",
    "facility-light": "路灯不亮（演示数据）",
    "facility-manhole": "井盖缺失（演示数据）",
}


def ensure_routing(district_code: str = "440308") -> int:
    departments = {d.code: d for d in Department.objects.filter(district__code=district_code)}
    made = 0
    for code, dept_code in DEMO_ROUTING.items():
        category = Category.objects.filter(code=code).first()
        if category and dept_code in departments:
            _, created = RoutingRule.objects.get_or_create(
                category=category, node_prefix=district_code, department=departments[dept_code]
            )
            made += created
    return made


@transaction.atomic
def load_demo_cases(*, count: int = 300, seed: int = 7, district_code: str = "440308") -> int:
    """Create `count` cases (idempotent per database: does nothing when cases exist)."""
    if Case.objects.exists():
        return 0
    ensure_routing(district_code)
    rng = random.Random(seed)
    areas = list(
        ResponsibilityArea.objects.filter(code__startswith=district_code).select_related("grid__community")[
            :5000
        ]
    )
    if not areas:
        return 0
    leaves = [c for c in Category.objects.filter(active=True, parent__isnull=False) if c.code in DESCRIPTIONS]
    staff = {
        role: User.objects.filter(role=role, is_active=True).order_by("pk").first()
        for role in (Role.LEADER, Role.COMMUNITY, Role.STREET, Role.COORDINATOR, Role.ADMIN)
    }
    admin = staff[Role.ADMIN]
    if admin is None:
        return 0
    departments = {d.code: d for d in Department.objects.filter(district__code=district_code, active=True)}
    now = timezone.now()
    made = 0
    for i in range(count):
        area = rng.choice(areas)
        centroid = area.boundary.point_on_surface
        category = rng.choice(leaves)
        # Most reports are recent (a live queue with green and yellow lights), some weeks old.
        at = now - timedelta(
            hours=rng.uniform(0.5, 24 * 4) if rng.random() < 0.6 else rng.uniform(24 * 4, 24 * 30)
        )
        case, _ = services.case_report(
            category=category,
            description=DESCRIPTIONS[category.code],
            location=Point(centroid.x, centroid.y, srid=4326),
            channel=rng.choice(["patrol", "visit", "hotline", "web", "hotline"]),
            reporter_phone=f"1380000{i:04d}" if rng.random() < 0.5 else "",
            now=at,
        )
        made += 1
        stage = rng.random()
        if now - at > timedelta(days=4) and rng.random() < 0.85:
            stage = rng.uniform(0.75, 1)  # older issues are mostly dealt with by now
        if stage < 0.1:
            continue  # still waiting to be filed
        at = min(at + timedelta(hours=rng.uniform(0.2, 3)), now)
        if stage < 0.15:
            services.transition(case, "decline", actor=admin, comment="不属于受理范围（演示）", now=at)
            continue
        case = services.file_case(case, actor=admin, now=at)
        if case.state_id == "awaiting_dispatch" and stage > 0.3:
            dept = departments.get(DEMO_ROUTING.get(category.code, ""))
            if dept is None:
                continue
            at = min(at + timedelta(hours=rng.uniform(0.5, 6)), now)
            case = services.transition(case, "dispatch", actor=admin, lead_department=dept, now=at)
            if stage > 0.45:
                at = min(at + timedelta(hours=rng.uniform(0.5, 8)), now)
                case = services.transition(case, "sign", actor=admin, now=at)
            if stage > 0.6:
                at = min(at + timedelta(hours=rng.uniform(4, 60)), now)
                case = services.transition(case, "feedback", actor=admin, comment="已处置（演示）", now=at)
        elif case.state_id == "handling" and stage > 0.35:
            at = min(at + timedelta(hours=rng.uniform(1, 30)), now)
            case = services.transition(case, "resolve", actor=admin, comment="已现场处理（演示）", now=at)
        if case.state_id == "awaiting_verification" and stage > 0.7:
            at = min(at + timedelta(hours=rng.uniform(1, 20)), now)
            case = services.transition(case, "verify", actor=admin, now=at)
            if rng.random() < 0.7:
                services.evaluate(case, satisfaction=rng.choice([3, 4, 4, 5, 5, 5]), now=at)
    services.sweep(now=now)
    tally.fold()
    return made
