"""A node's code cannot change while nodes below it carry it: the hierarchy's rule (every node's code starts
with its parent's, `0002`) was checked on the child's row only, so a grid renumbered in the admin left its
areas' codes starting with the old one (a prefix search under the new code found none of them; the visit
rollups, summed by code prefix, kept the grid's figures under the old code)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION gridgov_check_child_codes() RETURNS trigger AS $$
DECLARE n bigint;
BEGIN
  IF NEW.code IS DISTINCT FROM OLD.code THEN
    -- TG_ARGV: the children's table and their column naming this node
    EXECUTE format('SELECT count(*) FROM %I WHERE %I = $1 AND code NOT LIKE $2', TG_ARGV[0], TG_ARGV[1])
      INTO n USING NEW.id, NEW.code || '%';
    IF n > 0 THEN
      RAISE EXCEPTION '% % has % nodes below whose codes start with its code %: it cannot change',
        TG_TABLE_NAME, NEW.code, n, OLD.code USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER gridgov_district_children BEFORE UPDATE OF code ON geo_district
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_child_codes('geo_street', 'district_id');
CREATE TRIGGER gridgov_street_children BEFORE UPDATE OF code ON geo_street
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_child_codes('geo_community', 'street_id');
CREATE TRIGGER gridgov_community_children BEFORE UPDATE OF code ON geo_community
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_child_codes('geo_grid', 'community_id');
CREATE TRIGGER gridgov_grid_children BEFORE UPDATE OF code ON geo_grid
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_child_codes('geo_responsibilityarea', 'grid_id');
"""

REVERSE = """
DROP TRIGGER IF EXISTS gridgov_district_children ON geo_district;
DROP TRIGGER IF EXISTS gridgov_street_children ON geo_street;
DROP TRIGGER IF EXISTS gridgov_community_children ON geo_community;
DROP TRIGGER IF EXISTS gridgov_grid_children ON geo_grid;
DROP FUNCTION IF EXISTS gridgov_check_child_codes;
"""


class Migration(migrations.Migration):
    dependencies = [("households", "0003_integrity_on_its_columns")]

    operations = [migrations.RunSQL(SQL, REVERSE)]
