"""The rollups' policy state of each household moves onto the household's row (`rollups.STATE`): three
columns of the visits app on `households_household` (not fields of the Household model: no `save()` writes
them back stale), filled from `visits_householdpolicystate`, which goes.

A batch's resolving statement reads them with the household row it locks: no look-up of another table
(twice: whether there is a state, and what it is) for each visit. Run at 1,000,000 households: see the
README ("Visits"). The table is rewritten once (every row gets a new version); the index on the area is
built after the fill."""

from django.db import migrations

COLUMNS = """
ALTER TABLE households_household
  ADD COLUMN visits_area_id bigint NULL,
  ADD COLUMN visits_kind varchar(10) NULL,
  ADD COLUMN visits_need smallint NULL;
"""
NO_COLUMNS = """
ALTER TABLE households_household
  DROP COLUMN visits_area_id, DROP COLUMN visits_kind, DROP COLUMN visits_need;
"""
FILL = """
UPDATE households_household h SET visits_area_id = s.area_id, visits_kind = s.kind, visits_need = s.need
FROM visits_householdpolicystate s WHERE s.household_id = h.id;
"""
FILL_BACK = """
INSERT INTO visits_householdpolicystate (household_id, area_id, kind, need)
SELECT id, visits_area_id, visits_kind, visits_need FROM households_household WHERE visits_kind IS NOT NULL;
"""
# An area deleted: the households counted under it are counted under none (as the state table's key was),
# until their refresh. The index serves that, and `refresh` (the households of some areas).
KEYS = """
ALTER TABLE households_household
  ADD CONSTRAINT households_household_visits_area_fk FOREIGN KEY (visits_area_id)
    REFERENCES geo_responsibilityarea (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  ADD CONSTRAINT households_household_visits_need_check CHECK (visits_need >= 0);
CREATE INDEX households_household_visits_area_idx ON households_household (visits_area_id);
ANALYZE households_household;
"""
NO_KEYS = """
DROP INDEX households_household_visits_area_idx;
ALTER TABLE households_household
  DROP CONSTRAINT households_household_visits_area_fk,
  DROP CONSTRAINT households_household_visits_need_check;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("geo", "0004_drop_duplicate_code_indexes"),
        ("households", "0003_integrity_on_its_columns"),
        ("visits", "0012_policy_state_covering_index"),
    ]

    operations = [
        migrations.RunSQL(COLUMNS, NO_COLUMNS),
        migrations.RunSQL(FILL, FILL_BACK),
        migrations.RunSQL(KEYS, NO_KEYS),
        migrations.DeleteModel(name="HouseholdPolicyState"),
    ]
