"""The monitoring tally and the stored traffic light.

`cases_tally_rows(case, sign)` says which tally rows a case counts in; a trigger appends the difference
of every change to `cases_casetallydelta` (append-only: concurrent writers never lock the same row).
Months of closed cases are in Beijing time (the deployment's TIME_ZONE).
"""

from django.db import migrations, models

ROWS = """
CREATE FUNCTION cases_tally_rows(c cases_case, sign integer)
RETURNS TABLE (code varchar, dim varchar, value varchar, n integer, on_time integer, returned integer,
               sat_sum integer, sat_n integer)
LANGUAGE sql STABLE AS $$
    SELECT left(c.node_code, 12)::varchar, d.dim::varchar, d.value::varchar, sign, 0, 0, 0, 0
    FROM (VALUES
        ('state', c.state_id::varchar),
        ('level', c.level::varchar),
        ('category', (SELECT coalesce(parent_id, id)::varchar FROM cases_category WHERE id = c.category_id)),
        ('department', coalesce(c.lead_department_id::varchar, '')),
        ('light', c.light::varchar),
        ('supervised', c.supervised::varchar),
        ('dept_red', CASE WHEN c.light = 'red' THEN c.lead_department_id::varchar END)
    ) AS d (dim, value)
    WHERE c.is_open AND d.value IS NOT NULL
    UNION ALL
    SELECT left(c.node_code, 12)::varchar, 'closed'::varchar,
           to_char(c.closed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')::varchar, sign,
           sign * (c.closed_on_time IS TRUE)::integer, sign * (c.returns > 0)::integer,
           sign * coalesce(c.satisfaction, 0), sign * (c.satisfaction IS NOT NULL)::integer
    WHERE c.state_id = 'closed' AND c.closed_at IS NOT NULL
$$;

CREATE FUNCTION cases_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cases_casetallydelta (code, dim, value, n, on_time, returned, sat_sum, sat_n)
    SELECT t.code, t.dim, t.value, sum(t.n), sum(t.on_time), sum(t.returned), sum(t.sat_sum), sum(t.sat_n)
    FROM (
        SELECT * FROM cases_tally_rows(OLD, -1) WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT * FROM cases_tally_rows(NEW, 1) WHERE TG_OP <> 'DELETE'
    ) t
    GROUP BY t.code, t.dim, t.value
    HAVING sum(t.n) <> 0 OR sum(t.on_time) <> 0 OR sum(t.returned) <> 0 OR sum(t.sat_sum) <> 0
        OR sum(t.sat_n) <> 0;
    RETURN NULL;
END $$;

CREATE TRIGGER cases_tally_insert_delete AFTER INSERT OR DELETE ON cases_case
    FOR EACH ROW EXECUTE FUNCTION cases_tally();
CREATE TRIGGER cases_tally_update AFTER UPDATE OF state_id, level, category_id, lead_department_id, light,
    supervised, is_open, node_code, closed_at, closed_on_time, satisfaction, returns ON cases_case
    FOR EACH ROW EXECUTE FUNCTION cases_tally();
"""
DROP = """
DROP TRIGGER IF EXISTS cases_tally_insert_delete ON cases_case;
DROP TRIGGER IF EXISTS cases_tally_update ON cases_case;
DROP FUNCTION IF EXISTS cases_tally();
DROP FUNCTION IF EXISTS cases_tally_rows(cases_case, integer);
"""
# Existing cases: lights from their deadlines, then the tally from scratch.
BACKFILL = """
UPDATE cases_case SET light = CASE WHEN deadline IS NULL THEN '' WHEN deadline <= now() THEN 'red'
    WHEN warn_at <= now() THEN 'yellow' ELSE 'green' END;
DELETE FROM cases_casetallydelta;
INSERT INTO cases_casetally (code, dim, value, n, on_time, returned, sat_sum, sat_n)
SELECT r.code, r.dim, r.value, sum(r.n), sum(r.on_time), sum(r.returned), sum(r.sat_sum), sum(r.sat_n)
FROM cases_case c, LATERAL cases_tally_rows(c, 1) r GROUP BY r.code, r.dim, r.value;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_open_cases"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="light",
            field=models.CharField(
                blank=True, default="green", editable=False, max_length=6, verbose_name="traffic light"
            ),
        ),
        migrations.CreateModel(
            name="CaseTally",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.CharField(max_length=12)),
                ("dim", models.CharField(max_length=12)),
                ("value", models.CharField(max_length=40)),
                ("n", models.IntegerField(default=0)),
                ("on_time", models.IntegerField(default=0)),
                ("returned", models.IntegerField(default=0)),
                ("sat_sum", models.IntegerField(default=0)),
                ("sat_n", models.IntegerField(default=0)),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["code"], name="case_tally_code_idx", opclasses=["varchar_pattern_ops"]
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("code", "dim", "value"), name="case_tally_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="CaseTallyDelta",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.CharField(max_length=12)),
                ("dim", models.CharField(max_length=12)),
                ("value", models.CharField(max_length=40)),
                ("n", models.IntegerField(default=0)),
                ("on_time", models.IntegerField(default=0)),
                ("returned", models.IntegerField(default=0)),
                ("sat_sum", models.IntegerField(default=0)),
                ("sat_n", models.IntegerField(default=0)),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["code"], name="case_delta_code_idx", opclasses=["varchar_pattern_ops"]
                    )
                ],
            },
        ),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                models.OrderBy(models.F("deadline"), nulls_last=True),
                models.OrderBy(models.F("reported_at"), descending=True),
                condition=models.Q(("is_open", True)),
                name="case_open_deadline_idx",
            ),
        ),
        migrations.RunSQL(ROWS, DROP),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
