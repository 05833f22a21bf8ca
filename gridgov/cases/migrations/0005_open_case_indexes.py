"""Indexes of open cases alone: duplicate suggestions search only among them (near, same category and time)."""

import django.contrib.postgres.indexes
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_tally_and_light"),
        ("dispatch", "0003_routing_notifications"),
        ("geo", "0003_code_prefix_indexes"),
        ("visits", "0006_node_rollups"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="case",
            index=django.contrib.postgres.indexes.GistIndex(
                condition=models.Q(("is_open", True)), fields=["location"], name="case_open_location_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("is_open", True)),
                fields=["category", "reported_at"],
                name="case_open_category_time_idx",
            ),
        ),
    ]
