"""The household integrity check runs only when a column it checks is written (community, point, area,
active), not on every update of the row: the visits app keeps columns of its own on this table
(`visits/migrations/0013`), written for many households at a time, which the check does not read."""

from django.db import migrations

ONLY_ITS_COLUMNS = """
DROP TRIGGER gridgov_household_integrity ON households_household;
CREATE TRIGGER gridgov_household_integrity
  BEFORE INSERT OR UPDATE OF community_id, point, area_id, active ON households_household
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_household();
"""
EVERY_UPDATE = """
DROP TRIGGER gridgov_household_integrity ON households_household;
CREATE TRIGGER gridgov_household_integrity BEFORE INSERT OR UPDATE ON households_household
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_household();
"""


class Migration(migrations.Migration):
    dependencies = [("households", "0002_spatial_integrity")]

    operations = [migrations.RunSQL(ONLY_ITS_COLUMNS, EVERY_UPDATE)]
