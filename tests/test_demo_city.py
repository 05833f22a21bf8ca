"""The demo generator (pure) is deterministic and tiles every level."""

from __future__ import annotations

from pathlib import Path

import shapely

from gridgov.geo.demo_city import generate, id_number, read_inputs

GEODATA = Path(__file__).resolve().parent.parent / "geodata" / "yantian"


def small_city(seed: int = 7):
    outline, divisions = read_inputs(GEODATA)
    return outline, generate(outline, divisions, households=2500, seed=seed)


def test_generator_is_deterministic():
    _, a = small_city()
    _, b = small_city()
    assert a.household_count() == b.household_count()
    assert [c.boundary.wkb for s in a.streets for c in s.communities] == [
        c.boundary.wkb for s in b.streets for c in s.communities
    ]


def test_levels_tile_their_parents_without_gaps_or_overlaps():
    outline, city = small_city()
    streets = [s.boundary for s in city.streets]
    union = shapely.union_all(streets)
    # Streets tile the district (tolerance: 1e-9 square degrees, about 0.01 m²… per km of border).
    assert abs(union.area - outline.area) / outline.area < 1e-4
    assert sum(s.area for s in streets) - union.area < 1e-8
    for s in city.streets:
        assert len(s.communities) > 0
        comm_union = shapely.union_all([c.boundary for c in s.communities])
        assert abs(comm_union.area - s.boundary.area) / s.boundary.area < 1e-4
        for c in s.communities:
            for g in c.grids:
                assert g.boundary.geom_type == "Polygon"
                assert g.boundary.difference(c.boundary).area < 1e-10
                for a in g.areas:
                    assert a.boundary.geom_type == "Polygon"
                    assert a.boundary.difference(g.boundary).area < 1e-10


def test_every_building_in_exactly_one_area_and_inside_its_community():
    _, city = small_city()
    for s in city.streets:
        for c in s.communities:
            owned = [code for g in c.grids for a in g.areas for code in a.building_codes]
            assert sorted(owned) == sorted(b.code for b in c.buildings)
            for b in c.buildings:
                assert c.boundary.contains(b.point)


def test_synthetic_id_numbers_pass_the_gb11643_check():
    from stdnum.cn import ric

    assert ric.is_valid(id_number("440308", "20000101", 123))
    assert ric.is_valid(id_number("110101", "19491231", 2))
    _, city = small_city()
    ids = [
        h.id_number for s in city.streets for c in s.communities for b in c.buildings for h in b.households
    ]
    assert all(ric.is_valid(i) for i in ids if i)
