"""Handling time in working minutes, kept on each closed case; existing closed cases are filled in."""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

from gridgov.cases.worktime import WorkCalendar, parse_hours


def fill(apps, schema_editor) -> None:
    Case = apps.get_model("cases", "Case")
    CalendarDay = apps.get_model("cases", "CalendarDay")
    cal = WorkCalendar(
        hours=parse_hours(settings.GRIDGOV_OFFICE_HOURS),
        overrides=dict(CalendarDay.objects.values_list("day", "workday")),
        tz=timezone.get_default_timezone(),
    )
    done = Case.objects.filter(closed_at__isnull=False, dispatched_at__isnull=False)
    changed = []
    for case in done.only("pk", "dispatched_at", "closed_at").iterator(chunk_size=2000):
        case.handling_minutes = round(max(cal.between(case.dispatched_at, case.closed_at), 0))
        changed.append(case)
        if len(changed) >= 2000:
            Case.objects.bulk_update(changed, ["handling_minutes"])
            changed = []
    Case.objects.bulk_update(changed, ["handling_minutes"])


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0005_open_case_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="handling_minutes",
            field=models.PositiveIntegerField(
                blank=True, null=True, verbose_name="handling time (working minutes)"
            ),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
