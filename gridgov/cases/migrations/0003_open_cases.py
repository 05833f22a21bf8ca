"""Open cases get indexes of their own: `is_open` mirrors the state's kind (kept by a trigger)."""

from django.conf import settings
from django.db import migrations, models

TRIGGER = """
CREATE FUNCTION cases_case_is_open() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.is_open := COALESCE((SELECT kind = 'open' FROM cases_casestate WHERE code = NEW.state_id), TRUE);
    RETURN NEW;
END $$;
CREATE TRIGGER cases_case_is_open BEFORE INSERT OR UPDATE OF state_id ON cases_case
    FOR EACH ROW EXECUTE FUNCTION cases_case_is_open();
"""
DROP_TRIGGER = """
DROP TRIGGER IF EXISTS cases_case_is_open ON cases_case;
DROP FUNCTION IF EXISTS cases_case_is_open();
"""
SYNC = "UPDATE cases_case c SET is_open = (s.kind = 'open') FROM cases_casestate s WHERE s.code = c.state_id"


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0002_loop_and_categories"),
        ("dispatch", "0003_routing_notifications"),
        ("geo", "0003_code_prefix_indexes"),
        ("visits", "0004_fewer_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="is_open",
            field=models.BooleanField(default=True, editable=False),
        ),
        migrations.RunSQL(TRIGGER, DROP_TRIGGER),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("is_open", True)),
                fields=["node_code"],
                include=(
                    "state",
                    "level",
                    "category",
                    "lead_department",
                    "deadline",
                    "warn_at",
                    "supervised",
                ),
                name="case_open_monitor_idx",
                opclasses=["varchar_pattern_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("closed_at__isnull", False)),
                fields=["closed_at"],
                include=("node_code", "closed_on_time", "satisfaction", "returns", "state"),
                name="case_closed_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                models.F("state"),
                models.OrderBy(models.F("returned_at"), descending=True, nulls_last=True),
                models.OrderBy(models.F("deadline"), nulls_last=True),
                condition=models.Q(("is_open", True)),
                name="case_console_idx",
            ),
        ),
        migrations.RunSQL(SYNC, migrations.RunSQL.noop),
    ]
