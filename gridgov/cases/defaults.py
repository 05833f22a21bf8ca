"""The defaults of the issue loop: states, transitions and the category tree (all editable data).

Seeded by migration `cases.0002`; tests that truncate tables seed again with `seed(django.apps.apps)`.
Limits are working minutes (a working day is 420 minutes: 08:30–12:00 and 14:00–17:30).
"""

from __future__ import annotations

from typing import Any

DAY = 420

# code, name, English name, kind, step, public name
STATES = [
    ("reported", "待立案", "Awaiting filing", "open", "file", "已受理"),
    ("handling", "处置中", "Being handled", "open", "handle", "处理中"),
    ("awaiting_dispatch", "待派遣", "Awaiting dispatch", "open", "dispatch", "处理中"),
    ("dispatched", "待签收", "Dispatched, awaiting sign-off", "open", "handle", "处理中"),
    ("department_handling", "部门处置中", "Being handled by a department", "open", "handle", "处理中"),
    ("awaiting_verification", "待核查", "Awaiting verification", "open", "verify", "待核查"),
    ("closed", "已结案", "Closed", "closed", "", "已办结"),
    ("declined", "不予立案", "Declined", "closed", "", "不予受理"),
    ("merged", "已合并", "Merged into another issue", "closed", "", "已合并处理"),
]

LOCAL = ["member", "leader", "community", "street"]
STAFF = ["leader", "community", "street", "coordinator", "admin"]
# from, action, to (None: back to whoever handled it), roles, reason required
TRANSITIONS = [
    ("reported", "file", "handling", STAFF, False),
    ("reported", "decline", "declined", STAFF, True),
    ("reported", "merge", "merged", ["community", "street", "coordinator", "admin"], True),
    ("handling", "resolve", "awaiting_verification", [*LOCAL, "admin"], False),
    ("handling", "escalate", "handling", [*LOCAL, "admin"], True),
    ("handling", "refer", "awaiting_dispatch", ["street", "coordinator", "admin"], True),
    ("handling", "merge", "merged", ["community", "street", "coordinator", "admin"], True),
    ("awaiting_dispatch", "dispatch", "dispatched", ["coordinator", "admin"], False),
    ("awaiting_dispatch", "send_back", "handling", ["coordinator", "admin"], True),
    ("awaiting_dispatch", "merge", "merged", ["coordinator", "admin"], True),
    ("dispatched", "sign", "department_handling", ["department", "admin"], False),
    ("dispatched", "return", "awaiting_dispatch", ["department", "admin"], True),
    ("department_handling", "feedback", "awaiting_verification", ["department", "admin"], True),
    ("department_handling", "return", "awaiting_dispatch", ["department", "admin"], True),
    ("awaiting_verification", "verify", "closed", [*LOCAL, "coordinator", "admin"], False),
    ("awaiting_verification", "verify_fail", None, [*LOCAL, "coordinator", "admin"], True),
    ("closed", "reopen", None, ["community", "street", "coordinator", "admin"], True),
]

# code, parent, name, English name, level, sensitive, (file, dispatch, handle, verify), radius m, window h
CATEGORIES = [
    ("dispute", None, "矛盾纠纷", "Disputes", 1, True, None, 50, 168),
    (
        "dispute-neighbour",
        "dispute",
        "邻里纠纷",
        "Neighbour dispute",
        1,
        True,
        (120, 120, 3 * DAY, DAY),
        50,
        168,
    ),
    (
        "dispute-family",
        "dispute",
        "婚姻家庭纠纷",
        "Family dispute",
        1,
        True,
        (120, 120, 3 * DAY, DAY),
        30,
        168,
    ),
    (
        "dispute-property",
        "dispute",
        "物业纠纷",
        "Property management dispute",
        2,
        True,
        (240, 240, 5 * DAY, DAY),
        100,
        168,
    ),
    (
        "dispute-labour",
        "dispute",
        "劳资纠纷",
        "Wage or labour dispute",
        3,
        True,
        (240, 240, 5 * DAY, DAY),
        200,
        168,
    ),
    ("hazard", None, "安全隐患", "Hidden dangers", 3, False, None, 100, 72),
    ("hazard-fire", "hazard", "消防安全隐患", "Fire hazard", 3, False, (60, 60, 2 * DAY, DAY), 100, 72),
    ("hazard-gas", "hazard", "燃气安全隐患", "Gas hazard", 4, False, (30, 30, DAY, 210), 100, 24),
    (
        "hazard-structure",
        "hazard",
        "房屋结构安全隐患",
        "Structural danger to a building",
        4,
        False,
        (60, 60, 3 * DAY, DAY),
        50,
        168,
    ),
    ("environment", None, "环境卫生", "Environment and sanitation", 1, False, None, 100, 72),
    ("env-garbage", "environment", "垃圾堆放", "Rubbish dumped", 1, False, (120, 120, DAY, DAY), 100, 48),
    ("env-sewage", "environment", "污水外溢", "Sewage overflow", 4, False, (60, 60, 2 * DAY, DAY), 150, 48),
    ("env-noise", "environment", "噪声扰民", "Noise nuisance", 2, False, (120, 120, 2 * DAY, DAY), 150, 72),
    ("order", None, "社会治安", "Public order", 4, False, None, 200, 72),
    (
        "order-security",
        "order",
        "治安隐患",
        "Public security risk",
        4,
        False,
        (60, 60, 2 * DAY, DAY),
        200,
        72,
    ),
    (
        "order-construction",
        "order",
        "违法建设",
        "Illegal construction",
        3,
        False,
        (240, 240, 5 * DAY, DAY),
        50,
        720,
    ),
    ("livelihood", None, "民生诉求", "Livelihood requests", 2, False, None, 50, 168),
    (
        "livelihood-service",
        "livelihood",
        "民生服务诉求",
        "Request for a public service",
        2,
        False,
        (240, 240, 5 * DAY, DAY),
        50,
        168,
    ),
    (
        "livelihood-policy",
        "livelihood",
        "政策咨询",
        "Question about a policy",
        1,
        False,
        (240, 240, 3 * DAY, DAY),
        20,
        168,
    ),
    ("vulnerable", None, "困难帮扶", "Help for vulnerable residents", 1, True, None, 20, 168),
    (
        "vulnerable-elderly",
        "vulnerable",
        "独居老人帮扶",
        "Elderly person living alone needs help",
        1,
        True,
        (60, 60, DAY, DAY),
        20,
        72,
    ),
    (
        "vulnerable-hardship",
        "vulnerable",
        "困难群众救助",
        "Individual hardship",
        2,
        True,
        (240, 240, 5 * DAY, DAY),
        20,
        720,
    ),
    ("facilities", None, "公共设施", "Public facilities", 4, False, None, 50, 168),
    (
        "facility-road",
        "facilities",
        "道路破损",
        "Damaged road or pavement",
        4,
        False,
        (120, 120, 5 * DAY, DAY),
        50,
        168,
    ),
    (
        "facility-light",
        "facilities",
        "路灯损坏",
        "Street light out",
        4,
        False,
        (120, 120, 3 * DAY, DAY),
        50,
        168,
    ),
    (
        "facility-manhole",
        "facilities",
        "井盖缺失破损",
        "Missing or broken manhole cover",
        4,
        False,
        (30, 30, 210, 210),
        30,
        48,
    ),
]


def seed(apps: Any) -> None:
    """Create or update the default states, transitions and categories.

    `apps` is a migration's app registry or `django.apps.apps`."""
    CaseState = apps.get_model("cases", "CaseState")
    CaseTransition = apps.get_model("cases", "CaseTransition")
    Category = apps.get_model("cases", "Category")
    for order, (code, name, name_en, kind, step, public) in enumerate(STATES):
        CaseState.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "name_en": name_en,
                "kind": kind,
                "step": step,
                "public_name": public,
                "order": order,
            },
        )
    for frm, action, to, roles, comment in TRANSITIONS:
        CaseTransition.objects.update_or_create(
            from_state_id=frm,
            action=action,
            defaults={"to_state_id": to, "roles": roles, "needs_comment": comment},
        )
    for order, (code, parent, name, name_en, level, sensitive, limits, radius, window) in enumerate(
        CATEGORIES
    ):
        values = {
            "parent": Category.objects.get(code=parent) if parent else None,
            "name": name,
            "name_en": name_en,
            "level": level,
            "sensitive": sensitive,
            "duplicate_radius_m": radius,
            "duplicate_window_hours": window,
            "order": order,
        }
        if limits:
            keys = ("file_minutes", "dispatch_minutes", "handle_minutes", "verify_minutes")
            values.update(zip(keys, limits, strict=True))
        Category.objects.update_or_create(code=code, defaults=values)
