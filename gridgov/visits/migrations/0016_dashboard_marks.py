"""Dashboard marks (every `rollups.MARK_EVERY`th row of a level in worst-first order, for deep pages to seek
from), the worst-first index in one direction (a row comparison seeks in it), and the triggers that delete
the marks whenever a statement changes a dashboard row (the fold derives them again)."""

from django.db import migrations, models

# The worst-first order of `dashboards.ORDERS["worst"]` with every column ascending (share, NULL last as
# +Infinity; households descending as its negative; key, NULL last, as (key IS NULL, coalesce(key, ''))):
# `(sort key) >= (a mark's)` is then one row comparison, which positions an index scan. Key, households and
# done included: pages read (and skip) rows from the index alone.
SEEK_INDEX = """
CREATE INDEX dashboardrow_seek_idx ON visits_dashboardrow (
    month, level, (coalesce(done::float8 / nullif(households, 0), 'Infinity'::float8)), (-households),
    (key IS NULL), (coalesce(key, ''))
) INCLUDE (key, households, done)
"""
OLD_INDEX = """
CREATE INDEX dashboardrow_worst_idx ON visits_dashboardrow
    (month, level, (done::float8 / nullif(households, 0)), households DESC, key) INCLUDE (done)
"""
# A statement that inserts, updates or deletes dashboard rows deletes every mark (when it changed a row), in
# its own transaction; the marks are derived only by a writer holding the fold's locks, which every writer
# of the rows holds too (`rollups.dashboard_marks`): together, no snapshot sees marks that do not match its
# rows. (A writer of the rows without those locks could commit a change the marks' derivation did not see
# and leave them stale.) The triggers fire also under `session_replication_role = replica` (ENABLE ALWAYS:
# a restore or a bulk load with triggers off must not keep marks). One trigger per event: a trigger with
# transition tables has one event.
FORGET = """
CREATE FUNCTION visits_dashboardmark_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN  -- (no transition table)
        DELETE FROM visits_dashboardmark;
    ELSIF EXISTS (SELECT FROM changed) THEN
        DELETE FROM visits_dashboardmark;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER visits_dashboardmark_forget_insert AFTER INSERT ON visits_dashboardrow
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION visits_dashboardmark_forget();
CREATE TRIGGER visits_dashboardmark_forget_update AFTER UPDATE ON visits_dashboardrow
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION visits_dashboardmark_forget();
CREATE TRIGGER visits_dashboardmark_forget_delete AFTER DELETE ON visits_dashboardrow
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION visits_dashboardmark_forget();
CREATE TRIGGER visits_dashboardmark_forget_truncate AFTER TRUNCATE ON visits_dashboardrow
    FOR EACH STATEMENT EXECUTE FUNCTION visits_dashboardmark_forget();
ALTER TABLE visits_dashboardrow ENABLE ALWAYS TRIGGER visits_dashboardmark_forget_insert;
ALTER TABLE visits_dashboardrow ENABLE ALWAYS TRIGGER visits_dashboardmark_forget_update;
ALTER TABLE visits_dashboardrow ENABLE ALWAYS TRIGGER visits_dashboardmark_forget_delete;
ALTER TABLE visits_dashboardrow ENABLE ALWAYS TRIGGER visits_dashboardmark_forget_truncate;
"""
UNFORGET = """
DROP TRIGGER visits_dashboardmark_forget_insert ON visits_dashboardrow;
DROP TRIGGER visits_dashboardmark_forget_update ON visits_dashboardrow;
DROP TRIGGER visits_dashboardmark_forget_delete ON visits_dashboardrow;
DROP TRIGGER visits_dashboardmark_forget_truncate ON visits_dashboardrow;
DROP FUNCTION visits_dashboardmark_forget();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("visits", "0015_speed_flag_label"),
    ]

    operations = [
        migrations.CreateModel(
            name="DashboardMark",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("month", models.DateField()),
                ("level", models.CharField(max_length=10)),
                ("position", models.IntegerField()),
                ("share", models.FloatField()),
                ("households", models.IntegerField()),
                ("key", models.CharField(max_length=20, null=True)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("month", "level", "position"), name="dashboardmark_unique"
                    )
                ],
            },
        ),
        migrations.RunSQL(SEEK_INDEX, "DROP INDEX dashboardrow_seek_idx"),
        migrations.RunSQL("DROP INDEX dashboardrow_worst_idx", OLD_INDEX),
        migrations.RunSQL(FORGET, UNFORGET),
    ]
