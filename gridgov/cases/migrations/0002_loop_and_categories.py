"""Seed the state table, its transitions and a default category tree; make the timeline immutable.

Everything seeded here is data: administrators change names, roles, limits and categories in the admin.
"""

from django.db import migrations

from gridgov.cases.defaults import seed


def seed_defaults(apps, schema_editor):
    seed(apps)


IMMUTABLE = """
CREATE FUNCTION cases_event_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the issue timeline is append-only (% on event %)', TG_OP, OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER cases_event_immutable BEFORE UPDATE OR DELETE ON cases_caseevent
    FOR EACH ROW EXECUTE FUNCTION cases_event_immutable();
"""
MUTABLE = """
DROP TRIGGER IF EXISTS cases_event_immutable ON cases_caseevent;
DROP FUNCTION IF EXISTS cases_event_immutable();
"""


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_cases")]

    operations = [
        migrations.RunPython(seed_defaults, migrations.RunPython.noop),
        migrations.RunSQL(IMMUTABLE, MUTABLE),
    ]
