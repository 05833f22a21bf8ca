"""Seed the default visit policies: every household once a quarter (≥4 a year); key service targets
(elderly living alone, disabled, left-behind children) once a month. Administrators edit them."""

from django.db import migrations

DEFAULTS = [
    ("每季度走访一次 / once a quarter", "", "quarter", 1),
    ("独居老人每月走访 / elderly living alone: monthly", "elderly_alone", "month", 1),
    ("残疾人每月走访 / disabled: monthly", "disabled", "month", 1),
    ("留守儿童每月走访 / left-behind children: monthly", "left_behind_child", "month", 1),
]


def seed(apps, schema_editor):
    VisitPolicy = apps.get_model("visits", "VisitPolicy")
    for name, key_group, period, n in DEFAULTS:
        VisitPolicy.objects.get_or_create(
            key_group=key_group, period=period, defaults={"name": name, "visits_per_period": n}
        )


def unseed(apps, schema_editor):
    VisitPolicy = apps.get_model("visits", "VisitPolicy")
    VisitPolicy.objects.filter(name__in=[d[0] for d in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("visits", "0001_visits")]
    operations = [migrations.RunPython(seed, unseed)]
