"""The household-period counts go: the upkeep and the full recompute count a household's counted visits
from the (household, device time) index, which now carries `counted` for index-only scans.

Reversible: going back re-creates the counts table and fills it from the visits (as `rebuild` would)."""

from django.conf import settings
from django.db import migrations, models

FILL_COUNTS = """
INSERT INTO visits_householdperiodcount (household_id, kind, period_start, n)
SELECT s.household_id, s.kind, date_trunc(s.kind, v.device_time AT TIME ZONE %s)::date, count(*)
FROM visits_visit v JOIN visits_householdpolicystate s ON s.household_id = v.household_id
WHERE v.counted
GROUP BY 1, 2, 3
"""


def fill_counts(apps, schema_editor) -> None:
    schema_editor.execute(FILL_COUNTS, [settings.TIME_ZONE])


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0007_rollup_deltas"),
    ]

    operations = [
        # (reversed last: after the table is back)
        migrations.RunPython(migrations.RunPython.noop, fill_counts),
        migrations.DeleteModel(name="HouseholdPeriodCount"),
        migrations.RemoveIndex(model_name="visit", name="visit_household_time_idx"),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                fields=["household", "device_time"], include=("counted",), name="visit_household_time_idx"
            ),
        ),
    ]
