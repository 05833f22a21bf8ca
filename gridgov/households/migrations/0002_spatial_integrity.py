"""Database-enforced integrity of the hierarchy that CHECK constraints cannot express.

- every node's code starts with its parent's code;
- a grid lies inside its community and a responsibility area inside its grid
  (tolerance: 1e-10 square degrees outside, about 1 m²);
- a household lies inside its community (within ~0.1 m), its responsibility area is in the same
  community, and once the community is gridded every active household has a responsibility area.
"""

from django.db import migrations

TOLERANCE_AREA = "1e-10"  # square degrees, ~1.2 m² at 22°N
TOLERANCE_DIST = "1e-6"  # degrees, ~0.1 m

SQL = f"""
CREATE OR REPLACE FUNCTION gridgov_check_street() RETURNS trigger AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM geo_district d WHERE d.id = NEW.district_id AND NEW.code LIKE d.code || '%') THEN
    RAISE EXCEPTION 'street % does not extend its district code', NEW.code USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER gridgov_street_integrity BEFORE INSERT OR UPDATE ON geo_street
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_street();

CREATE OR REPLACE FUNCTION gridgov_check_community() RETURNS trigger AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM geo_street s WHERE s.id = NEW.street_id AND NEW.code LIKE s.code || '%') THEN
    RAISE EXCEPTION 'community % does not extend its street code', NEW.code USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.gridded_at IS NOT NULL AND EXISTS (
      SELECT 1 FROM households_household h
      WHERE h.community_id = NEW.id AND h.active AND h.area_id IS NULL) THEN
    RAISE EXCEPTION 'community % is gridded but has active households without a responsibility area', NEW.code
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER gridgov_community_integrity BEFORE INSERT OR UPDATE ON geo_community
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_community();

CREATE OR REPLACE FUNCTION gridgov_check_grid() RETURNS trigger AS $$
DECLARE parent geo_community%ROWTYPE;
BEGIN
  SELECT * INTO parent FROM geo_community WHERE id = NEW.community_id;
  IF NEW.code NOT LIKE parent.code || '%' THEN
    RAISE EXCEPTION 'grid % does not extend its community code %', NEW.code, parent.code
      USING ERRCODE = 'check_violation';
  END IF;
  IF parent.boundary IS NOT NULL
     AND ST_Area(ST_Difference(NEW.boundary, parent.boundary)) > {TOLERANCE_AREA} THEN
    RAISE EXCEPTION 'grid % is not inside community %', NEW.code, parent.code USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER gridgov_grid_integrity BEFORE INSERT OR UPDATE ON geo_grid
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_grid();

CREATE OR REPLACE FUNCTION gridgov_check_area() RETURNS trigger AS $$
DECLARE parent geo_grid%ROWTYPE;
BEGIN
  SELECT * INTO parent FROM geo_grid WHERE id = NEW.grid_id;
  IF NEW.code NOT LIKE parent.code || '%' THEN
    RAISE EXCEPTION 'responsibility area % does not extend its grid code %', NEW.code, parent.code
      USING ERRCODE = 'check_violation';
  END IF;
  IF ST_Area(ST_Difference(NEW.boundary, parent.boundary)) > {TOLERANCE_AREA} THEN
    RAISE EXCEPTION 'responsibility area % is not inside grid %', NEW.code, parent.code
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER gridgov_area_integrity BEFORE INSERT OR UPDATE ON geo_responsibilityarea
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_area();

CREATE OR REPLACE FUNCTION gridgov_check_household() RETURNS trigger AS $$
DECLARE c geo_community%ROWTYPE;
BEGIN
  SELECT * INTO c FROM geo_community WHERE id = NEW.community_id;
  IF c.boundary IS NOT NULL AND NOT ST_DWithin(c.boundary, NEW.point, {TOLERANCE_DIST}) THEN
    RAISE EXCEPTION 'household % lies outside its community %', NEW.code, c.code USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.area_id IS NOT NULL AND NOT EXISTS (
      SELECT 1 FROM geo_responsibilityarea a JOIN geo_grid g ON g.id = a.grid_id
      WHERE a.id = NEW.area_id AND g.community_id = NEW.community_id) THEN
    RAISE EXCEPTION 'household % has a responsibility area of another community', NEW.code
      USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.active AND NEW.area_id IS NULL AND c.gridded_at IS NOT NULL THEN
    RAISE EXCEPTION 'household % is active in gridded community % but has no responsibility area', NEW.code, c.code
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER gridgov_household_integrity BEFORE INSERT OR UPDATE ON households_household
  FOR EACH ROW EXECUTE FUNCTION gridgov_check_household();
"""

REVERSE = """
DROP TRIGGER IF EXISTS gridgov_household_integrity ON households_household;
DROP TRIGGER IF EXISTS gridgov_area_integrity ON geo_responsibilityarea;
DROP TRIGGER IF EXISTS gridgov_grid_integrity ON geo_grid;
DROP TRIGGER IF EXISTS gridgov_community_integrity ON geo_community;
DROP TRIGGER IF EXISTS gridgov_street_integrity ON geo_street;
DROP FUNCTION IF EXISTS gridgov_check_household, gridgov_check_area, gridgov_check_grid,
  gridgov_check_community, gridgov_check_street;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("households", "0001_initial"),
        ("geo", "0002_initial"),
    ]

    operations = [migrations.RunSQL(SQL, REVERSE)]
