"""Dashboard rows for the current month, with an index in worst-first order (`dashboards.dashboard`)."""

from django.db import migrations, models

# The sort key of `dashboards.ORDERS["worst"]`, as an expression index (the reads order by the same
# expression); `done` included: a page reads (and a deep page skips) rows from the index alone.
WORST_INDEX = """
CREATE INDEX dashboardrow_worst_idx ON visits_dashboardrow
    (month, level, (done::float8 / nullif(households, 0)), households DESC, key) INCLUDE (done)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0008_visits_count_from_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardRow",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("level", models.CharField(max_length=10)),
                ("key", models.CharField(max_length=20, null=True)),
                ("member_id", models.BigIntegerField(null=True)),
                ("households", models.IntegerField()),
                ("done", models.IntegerField()),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "level", "key"), name="dashboardrow_key_unique", nulls_distinct=False
                    )
                ],
            },
        ),
        migrations.RunSQL(WORST_INDEX, "DROP INDEX dashboardrow_worst_idx"),
    ]
