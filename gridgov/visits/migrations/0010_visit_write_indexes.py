"""Fewer index entries per synced visit: no GiST index on the GPS fix (nothing searches visits by place),
and the reviewer's index only over reviewed visits (a synced visit has none). The reviewer's foreign key
stays as it is: only its index changes (Django would drop and re-add the constraint, re-checking every
visit).

Reversible: going back re-creates both indexes as they were."""

import django.contrib.gis.db.models.fields
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0009_dashboard_rows"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="visit",
            name="location",
            field=django.contrib.gis.db.models.fields.PointField(
                blank=True, null=True, spatial_index=False, srid=4326, verbose_name="GPS fix"
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="visit",
                    name="reviewed_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="reviewed by",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "visits_visit_reviewed_by_id_bc64fe35"',
                    'CREATE INDEX "visits_visit_reviewed_by_id_bc64fe35" ON "visits_visit" ("reviewed_by_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="visit",
            index=models.Index(
                condition=models.Q(("reviewed_by__isnull", False)),
                fields=["reviewed_by"],
                name="visit_reviewed_by_idx",
            ),
        ),
    ]
