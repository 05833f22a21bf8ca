"""A grid left in pieces by a change keeps the re-grid of the grids as they are (chains, then `repair`) among
its candidates, and the one keeping more households wins: the grids' take alone dissolved a grid (review of
regrid6)."""

from gridgov.gridding.algorithm.engine import plan_community
from gridgov.gridding.algorithm.local import faults
from gridgov.gridding.algorithm.model import BuildingIn, Config
from gridgov.gridding.algorithm.regrid import areas_moved_grid, kept_share, regrid
from gridgov.gridding.algorithm.stored import stored_from_plan
from gridgov.gridding.algorithm.synthetic import lattice_community

CFG = Config()


def _run(community, changed):
    before = plan_community(community, CFG, code="440308001001")
    previous = before.household_codes()
    plan = regrid(
        changed, previous, CFG, code="440308001001", stored=stored_from_plan(before), incremental=True
    )
    assert faults(plan, changed, CFG).score == (0, 0)
    return before, previous, plan


def test_removal_does_not_dissolve_a_grid_main_kept():
    # main: 96.2% kept, 2 areas moved, 11 grids; branch: 92.3%, 5 areas moved, 11 -> 10 grids
    community = lattice_community(100, seed=3)
    changed = type(community)(
        community.boundary, [b for b in community.buildings if b.id != "b62"], community.barriers
    )
    before, previous, plan = _run(community, changed)
    assert plan.n_grids == before.n_grids
    assert kept_share(previous, plan)[0] >= 0.95, (kept_share(previous, plan), plan.regrid_path)


def test_add_of_25_keeps_every_household_as_main_did():
    # main: 100% kept, 0 areas moved; branch: 95.8%, 3 areas moved to another grid
    community = lattice_community(100, seed=1)
    new = BuildingIn.simple("new2", 66.73522200644737, 2.3285055760549263, 25)
    changed = type(community)(community.boundary, [*community.buildings, new], community.barriers)
    _before, previous, plan = _run(community, changed)
    assert areas_moved_grid(previous, plan) == 0, plan.regrid_path
    assert kept_share(previous, plan)[0] == 1.0, (kept_share(previous, plan), plan.regrid_path)


def test_a_re_grid_after_the_settings_changed_meets_the_new_ranges_where_it_can():
    """Settings changed (no stored plan: the full rebuild): holding households to areas cut for the old
    range left 13 areas under a raised minimum and 20 for a new range, where a partition holding none has
    no area out of range; the re-grid now compares the two and keeps the one with fewer faults (review of
    regrid6; it failed before)."""
    import dataclasses

    community = lattice_community(100, seed=1)
    before = plan_community(community, CFG, code="440308001001")
    previous = before.household_codes()
    for change in ({"area_min": 16}, {"area_min": 17, "area_max": 22}):
        config = dataclasses.replace(CFG, **change)
        plan = regrid(community, previous, config, code="440308001001", ranges_changed=True)
        assert faults(plan, community, config).score == (0, 0), (change, plan.regrid_path)
        assert "holding no household" in plan.regrid_path
    # Unchanged settings: the plan in force's areas, every household kept.
    plan = regrid(community, previous, CFG, code="440308001001", ranges_changed=True)
    assert kept_share(previous, plan) == (1.0, 1.0) and plan.regrid_path == "full"
    # Not told the ranges changed (a change of buildings): areas held as they are, faults reported.
    config = dataclasses.replace(CFG, area_min=16)
    plan = regrid(community, previous, config, code="440308001001")
    assert faults(plan, community, config).out > 0 and kept_share(previous, plan) == (1.0, 1.0)
