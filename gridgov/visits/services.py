"""Recording visits: validate every item, verify it, write the batch in one statement.

A batch is what a phone sends when it gets signal back. Each item carries a UUID made on the
device, so a retried batch creates nothing twice; a bad item is reported with its field errors and
does not sink the good ones; device time and server receipt time are both kept.
"""

from __future__ import annotations

import math
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from gridgov.accounts import scoping
from gridgov.accounts.models import Role
from gridgov.core import audit, prepared
from gridgov.households.models import Household

from . import rollups
from .models import Channel, Finding, Flag, Review, Visit

# Enum .values builds a new list on each access: look them up once (parsing runs per visit).
CHANNELS = frozenset(Channel.values)
FINDINGS = frozenset(Finding.values)


@dataclass
class ItemResult:
    index: int
    id: str | None
    status: str  # "created" | "exists" | "error"
    errors: dict[str, list[str]] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "id": self.id, "status": self.status}
        if self.errors:
            out["errors"] = self.errors
        if self.status == "created":
            out["flags"] = self.flags
            out["counted"] = not self.flags
        return out


@dataclass(slots=True)
class _Item:
    index: int
    id: str  # canonical UUID text
    household_code: str
    channel: str
    lon: float | None
    lat: float | None
    accuracy: float | None
    device_time: datetime
    notes: str
    findings: list[str]
    issue_ref: str | None
    household: int | None = None  # its id, once resolved
    area_member: int | None = None  # the member of its responsibility area
    state: tuple[int | None, str | None, int | None] = (None, None, None)  # its policy state (rollups)
    flags: list[str] = field(default_factory=list)  # as verified, but for a repeat of a stored visit
    flags_repeat: list[str] = field(default_factory=list)  # the same, a repeat of a stored visit
    fast: bool = False  # too fast from or to a neighbour in the member's track (the batch's statement)
    distance: float | None = None


def rules() -> dict[str, float]:
    return settings.GRIDGOV_VISIT_RULES


CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid(value: Any) -> str:
    """The canonical text of a UUID (what phones send is usually canonical already: no object made)."""
    if isinstance(value, str) and CANONICAL_UUID.fullmatch(value):
        return value
    return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _parse(index: int, raw: Any, latest: datetime) -> tuple[_Item | None, dict[str, list[str]]]:
    """Field-level validation of one item (no database access); `latest`: the last acceptable device time."""
    errors: dict[str, list[str]] = defaultdict(list)
    if not isinstance(raw, dict):
        return None, {"non_field_errors": [_("Each visit must be an object.")]}
    try:
        vid = _uuid(raw.get("id"))
    except (ValueError, TypeError, AttributeError):
        errors["id"].append(_("A UUID made on the device is required."))
        vid = None
    code = raw.get("household")
    if not isinstance(code, str) or not code.strip() or "\x00" in code:
        errors["household"].append(_("The household code is required."))
    channel = raw.get("channel", Channel.IN_PERSON)
    if channel not in CHANNELS:
        errors["channel"].append(_("Unknown channel %(value)s.") % {"value": channel})
    lon, lat, accuracy = raw.get("lon"), raw.get("lat"), raw.get("accuracy")
    if lon is None and lat is None:
        if channel == Channel.IN_PERSON:
            errors["lat"].append(_("An in-person visit needs the GPS fix (lat, lon)."))
    else:
        for name, value, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
            if not _number(value):
                errors[name].append(_("Must be a number."))
            elif not -limit <= value <= limit:
                errors[name].append(_("Out of range (±%(limit)s).") % {"limit": int(limit)})
        if accuracy is None:
            errors["accuracy"].append(_("The accuracy of the GPS fix is required with the fix."))
    if accuracy is not None and (not _number(accuracy) or accuracy <= 0):
        errors["accuracy"].append(_("Must be a positive number of metres."))
    when = raw.get("device_time")
    device_time = parse_datetime(when) if isinstance(when, str) else None
    if device_time is None:
        errors["device_time"].append(_("An ISO 8601 date and time with its time zone is required."))
    elif device_time.utcoffset() is None:
        errors["device_time"].append(_("The time zone is missing."))
    elif device_time > latest:
        errors["device_time"].append(_("This time is in the future."))
    notes = raw.get("notes", "")
    if not isinstance(notes, str) or len(notes) > 2000 or "\x00" in notes:
        errors["notes"].append(_("Text of at most 2,000 characters."))
    findings = raw.get("findings", [])
    if not isinstance(findings, list) or any(not isinstance(f, str) or f not in FINDINGS for f in findings):
        errors["findings"].append(_("A list of: %(values)s.") % {"values": ", ".join(Finding.values)})
    issue_ref = raw.get("issue_ref")
    if issue_ref is not None:
        try:
            issue_ref = _uuid(issue_ref)
        except (ValueError, TypeError, AttributeError):
            errors["issue_ref"].append(_("Must be a UUID."))
    if errors:
        return None, dict(errors)
    return _Item(
        index,
        vid,
        code.strip(),
        channel,
        None if lon is None else float(lon),
        None if lat is None else float(lat),
        None if accuracy is None else float(accuracy),
        device_time,
        notes,
        sorted(set(findings)),
        issue_ref,
    ), {}


def _acting_member(user: Any) -> Any:
    """The active member record of a grid member (None for other roles, or an inactive member)."""
    if getattr(user, "role", None) != Role.MEMBER:
        return None
    member = getattr(user, "member", None)
    return member if member is not None and member.active else None


def visitable_households(user: Any) -> Any:
    """Households a user may log visits for: a member's whole grid(s) (visits outside their own areas
    are flagged), a leader's grid, and the ledger scope of community staff and administrators."""
    if getattr(user, "role", None) == Role.MEMBER:
        member = _acting_member(user)
        if member is None:
            return Household.objects.none()
        return Household.objects.filter(area__grid_id__in=member.areas.values("grid_id"))
    return scoping.households(user)


def record_visits(raw_items: list[Any], *, actor: Any) -> list[ItemResult]:
    """Validate, verify and store a batch of visits; one result per item, in order.

    Two statements whatever the size of the batch: one resolves the households (in the actor's scope)
    with what verification needs from the database and locks them, one (its snapshot taken with the
    locks held) checks for repeats of stored visits, stores the visits, keeps the compliance rollups and
    writes the audit row (a statement prepared once per database connection).
    """
    now = timezone.now()
    latest = now + timedelta(minutes=rules()["future_skew_minutes"])
    results: list[ItemResult | None] = [None] * len(raw_items)
    items: list[_Item] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_items):
        item, errors = _parse(i, raw, latest)
        if item is not None and item.id in seen:
            errors = {"id": [_("The same id appears twice in this batch.")]}
            item = None
        if item is None:
            rid = raw.get("id") if isinstance(raw, dict) else None
            results[i] = ItemResult(i, None if rid is None else str(rid), "error", errors)
            continue
        seen.add(item.id)
        items.append(item)
    if not items:
        return [r for r in results if r is not None]
    member = _acting_member(actor)
    # One transaction from the resolving statement on: it locks the batch's households (see RESOLVE).
    with transaction.atomic():
        missing_state = _resolve(items, actor, member, results)
        items = [it for it in items if results[it.index] is None]
        if not items:
            return [r for r in results if r is not None]
        track = _verify(items, member)
        if missing_state:  # households the rollups have not seen yet (new since the last refresh)
            states = rollups.locked_states(missing_state)
            for it in items:
                if it.state[1] is None:
                    it.state = states.get(it.household, (None, None, None))
        created, repeats = _insert(items, actor, now, received=len(raw_items), track=track)
        _link_issues([it.issue_ref for it in items if it.issue_ref and it.id in created])
    for it in items:
        if it.id in repeats:
            it.flags = it.flags_repeat
        if it.fast:
            it.flags = sorted({*it.flags, Flag.SPEED})
        status = "created" if it.id in created else "exists"
        results[it.index] = ItemResult(it.index, it.id, status, flags=it.flags)
    return [r for r in results if r is not None]


LINK_ISSUES = """
UPDATE cases_case AS c
SET visit_id = v.id, channel = CASE WHEN c.channel = 'patrol' THEN 'visit' ELSE c.channel END
FROM visits_visit AS v
WHERE v.issue_ref = ANY(%s) AND c.uuid = v.issue_ref AND c.visit_id IS NULL
"""


def _link_issues(refs: list[Any]) -> None:
    """An issue reported from a visit on the phone may reach the server before the visit: link it now
    (the other order is linked by `cases.services.case_report`)."""
    if refs:
        with connection.cursor() as cur:
            cur.execute(LINK_ISSUES, [refs])


# What verification needs, in one statement: each item's household, if in the actor's scope (`{scope}`: for
# a grid member the areas of their grid(s), else the scoped queryset's ids), the member of its area, the
# distance from the fix to the building (footprint, else building point, else household point; in a local
# equirectangular plane at the fix's latitude, < 0.1% off within 20 km), its policy state for the rollups
# (on its row, `rollups.STATE`: no state, the rollups have not seen it yet).
# It also locks the households (`RESOLVE_LOCK`, rows in id order: two batches cannot deadlock) until the
# batch's transaction ends. In READ COMMITTED a statement reads with the snapshot taken when it starts, so
# nothing this one reads about the households' visits would see what a concurrent batch committed while
# this one waited for its lock: it reads none of them. The household's visits (its latest counted visit:
# the repeat check, and whether its period was done, `rollups.upkeep_ctes`) are read by the statement that
# stores the batch (`INSERT`), whose snapshot is taken once every lock is held. The household row itself is
# read as it is once locked (a row updated during the wait is fetched again and the statement re-evaluated
# for it, PostgreSQL's EvalPlanQual); in that re-evaluation the rows of other tables joined to it stay as
# they were read before the wait, so what depends on the household's area and building is read by
# subqueries (run again with the new row) and the member's scope is a list of areas (an init plan, not a
# join): a household moved to another area during the wait is judged by its new area (still in the
# member's grid: stored, flagged outside the assignment if the area is not theirs; outside it: refused).
# (The scoped queryset of other actors is a join: their scope is checked on the household as it was before
# the wait.) A household edit (its `refresh`) or a policy change (its `rebuild`), UPDATEs of the row, has
# either committed before this statement reads the row, or waits for the batch to end: no state read here
# can change before the batch ends.
# A grid member's batch with located visits first takes the member's lock (`MEMBER_LOCK`, `{member_lock}`: an
# init plan, a one-time filter run before any household is read or locked, so that batches of one member
# cannot wait for each other's household locks in a cycle), held until the batch ends: the speed check reads
# the member's stored located visits around each of the batch's (`TOO_FAST`), which a concurrent batch of
# the same member (two phones, a retry racing a sync) for other households may be storing. Like the
# households' visits, they are read by the statement that stores the batch (after this one: its snapshot
# sees what such a batch committed, whichever of the two batches took the lock first).
RESOLVE_LOCK = "ORDER BY h.id FOR NO KEY UPDATE OF h"
RESOLVE = """
WITH inp AS (
    SELECT * FROM unnest(%s::int[], %s::text[], %s::float8[], %s::float8[]) AS t(i, c, x, y)
)
SELECT inp.i, h.id, (SELECT a.member_id FROM geo_responsibilityarea a WHERE a.id = h.area_id), {state},
       CASE WHEN inp.x IS NOT NULL THEN ST_Distance(
           ST_Scale(coalesce((SELECT coalesce(b.footprint, b.point) FROM geo_building b
                              WHERE b.id = h.building_id), h.point),
                    111320.0 * cosd(inp.y), 110574.0),
           ST_Scale(ST_SetSRID(ST_MakePoint(inp.x, inp.y), 4326), 111320.0 * cosd(inp.y), 110574.0)
       ) END
FROM inp
JOIN households_household h ON h.code = inp.c
WHERE {scope} {member_lock}
{lock}
"""
MEMBER_LOCK = 7_240_003  # advisory lock (two keys: this, and the member's id modulo 2**31 - 1)
MEMBER_LOCK_SQL = f"AND (SELECT true FROM pg_advisory_xact_lock({MEMBER_LOCK}, %s))"
# Only for measuring what the upkeep costs (`bench/visits_scale.py`, `UPKEEP = False`): no lock, constants
# for the state.
NO_STATE = "NULL::bigint, 'quarter'::varchar, 1::smallint"
# Whether batches keep the rollups (always, but for measuring what that costs: `bench/visits_scale.py`).
UPKEEP = True
# Only for measuring: with `UPKEEP = False`, still lock the households (the locks also make the repeat check
# exact: `bench/visits_scale.py` measures the upkeep's share with them counted in the baseline too).
BASELINE_LOCKS = False


# A member's households (their whole grid, as `visitable_households`) in plain SQL: one text for every member,
# so that the resolving statement is prepared once per connection (no ORM compile, no planning per batch).
# Tested on the household's own area (not on the ids of every household of the grid, joined back).
# An array of areas (an init plan), not a join: tested again on a household row fetched anew after the
# lock wait (see RESOLVE).
MEMBER_SCOPE = """h.area_id = ANY(ARRAY(
    SELECT ma.id FROM geo_responsibilityarea ma
    WHERE ma.grid_id IN (SELECT g.grid_id FROM geo_responsibilityarea g WHERE g.member_id = %s)
))"""


def _resolve(items: list[_Item], actor: Any, member: Any, results: list[ItemResult | None]) -> list[int]:
    """Lock the items' households (and the member, for a grid member's batch with located visits) and fill in
    each item's household, area member and distance (`RESOLVE`); items whose household is unknown or out of
    scope get their error result. Returns the households without a rollup state (the others' states are in
    the items)."""
    # Phone visits are exempt from the distance check: no fix is sent for them.
    located = [it for it in items if it.lon is not None and it.channel != Channel.PHONE]
    inputs = [
        pg_array([it.index for it in items]),
        pg_array([it.household_code for it in items], text=True),
        pg_array([it.lon if it.channel != Channel.PHONE else None for it in items]),
        pg_array([it.lat if it.channel != Channel.PHONE else None for it in items]),
    ]
    types = ["int[]", "text[]", "float8[]", "float8[]"]
    parts = {"lock": RESOLVE_LOCK, "state": rollups.STATE} if UPKEEP else {"lock": "", "state": NO_STATE}
    if not UPKEEP and BASELINE_LOCKS:
        parts["lock"] = RESOLVE_LOCK
    if member is not None:  # a grid member (the many phones): one prepared text for all of them
        # (with located visits, the member's lock for the speed check: see RESOLVE)
        lock, key = ("", []) if not located else (MEMBER_LOCK_SQL, [member.pk % 2_147_483_647])
        sql = RESOLVE.format(scope=MEMBER_SCOPE, member_lock=lock, **parts)
        found = prepared.execute(sql, [*inputs, member.pk, *key], [*types, "bigint", *(["int"] * len(key))])
    else:
        qs = visitable_households(actor).order_by().values("id")
        hh_sql, hh_params = qs.query.sql_with_params()
        sql = RESOLVE.format(scope=f"h.id IN ({hh_sql})", member_lock="", **parts)
        with connection.cursor() as cur:
            cur.execute(sql, [*inputs, *hh_params])
            found = cur.fetchall()
    by_index = {it.index: it for it in items}
    missing = set()
    for index, hid, area_member, state_area, kind, need, distance in found:
        it = by_index.pop(index)
        it.household, it.area_member, it.distance = hid, area_member, distance
        it.state = (state_area, kind, need)
        if kind is None:
            missing.add(hid)
    for it in by_index.values():
        results[it.index] = ItemResult(
            it.index, it.id, "error", {"household": [_("Unknown household, or not one you may visit.")]}
        )
    return sorted(missing)


def _verify(items: list[_Item], member: Any) -> bool:
    """Flags what the items and the resolving statement tell; returns whether the statement that stores the
    batch checks the speed along the member's track (a grid member's batch with located visits: see
    `TOO_FAST`; it reads the member's stored visits after the member's lock, see RESOLVE)."""
    r = rules()
    located = [it for it in items if it.lon is not None and it.channel != Channel.PHONE]
    for it in located:
        if it.distance is not None and it.distance > r["max_distance_m"]:
            it.flags.append(Flag.FAR)
        if it.accuracy is not None and it.accuracy > r["max_accuracy_m"]:
            it.flags.append(Flag.ACCURACY)
    if member is not None:
        for it in items:
            if it.area_member != member.pk:
                it.flags.append(Flag.OUTSIDE)
    # A second visit to the same household within the window of an earlier one of the batch (one not
    # itself a repeat within the batch). Within the window of a counted visit stored before the batch is
    # decided by the statement that stores it (it reads the household's visits after the lock wait):
    # `flags_repeat` are the flags it then takes.
    window = timedelta(hours=r["repeat_window_hours"])
    last: dict[int | None, datetime] = {}
    for it in sorted(items, key=lambda it: it.device_time):
        prev = last.get(it.household)
        if prev is not None and abs(it.device_time - prev) < window:
            it.flags.append(Flag.REPEAT)
        else:
            last[it.household] = it.device_time
    for it in items:
        it.flags_repeat = sorted({*it.flags, Flag.REPEAT})
        it.flags = sorted(set(it.flags))
    # Implausible speed between consecutive visits of the member's track, the batch's own and the stored ones:
    # all of it in the statement that stores the batch (see `TOO_FAST`).
    return member is not None and bool(located)


COPY_COLUMNS = (  # the columns a sync writes, in this order
    "id",
    "household_id",
    "member_id",
    "user_id",
    "channel",
    "location",
    "accuracy_m",
    "distance_m",
    "device_time",
    "received_at",
    "notes",
    "findings",
    "photo",
    "issue_ref",
    "flags",
    "review",
    "review_reason",
    "counted",
)


# The batch travels as one array literal per column, made here (the driver's own quoting of Python lists
# costs more than the rest of the request), unnested into rows; literal arrays also give the planner the
# true number of rows. Ids already stored stay as they are.
# The statement's snapshot is taken once the resolving statement holds every household's lock: it reads
# each household's latest counted visit as committed by then (a concurrent batch for it included), for
# - the repeat check against the visits stored before: a counted visit within the window of the item's
#   time (none when the latest is before the window; the latest itself when inside it; else a probe of the
#   window: a household visited after the item's time) makes it take `flags_repeat` (not counted, pending
#   review), else it takes `flags`; `rep` answers it for every item (a resent one included, as its own
#   stored visit makes it a repeat), and
# - the upkeep (`rollups.upkeep_ctes`): whether the household's period was done before the batch.
# It also checks, for a grid member's batch with located visits, the speed along the member's track
# (see `TOO_FAST`), reading the member's stored visits as committed once the resolving statement held the
# member's lock (a concurrent batch of the member included): an item too fast takes `fl` or `flr` with
# `implausible_speed` added (`fast`).
# The counted visits feed the rollups in the same statement, with the policy states the resolving statement
# read (`upkeep=False` leaves them out: only for measuring what the upkeep costs).
UPKEEP_CTES = f"""counted AS (  -- with each household's policy state and latest counted visit
    SELECT t.h AS household_id, t.dt AS t, t.area AS area_id, t.kind, t.need, t.last
    FROM ins JOIN t ON t.id = ins.id WHERE ins.counted
), {rollups.upkeep_ctes("counted")}"""


# The speed check. A grid member's track is their located visits (a GPS fix, not by phone), stored and
# incoming, in device time order (at equal times, stored visits first, then the batch's in its order). Each
# incoming located visit is checked against its predecessor and its successor in that track, whatever the
# order in which visits reach the server (a phone offline all morning syncs after the other phone synced the
# afternoon; a retried batch): too fast (great-circle distance, haversine, over the time between, at least a
# second) between two consecutive visits flags the incoming one of the pair, the later one when both are
# incoming. A visit a leader rejected is not in the track (a spoofed fix would make the next genuine visit
# look too fast). A stored visit is never changed by a later sync (its review may be decided already): when a
# late visit makes the step to a stored one implausible, the late visit takes the flag. The statement orders
# the batch's own located items (`NEIGHBOURS`: the one before each, `pt`/`px`/`py`, and the time of the one
# after, `nt`) and probes the member's stored located visits in the gaps (`PROBES`), one backward and one
# forward probe of the visits' (member, time) index per located item, each bounded by the batch's neighbour: a
# stored visit just before the item and after its batch predecessor (`sp`) replaces that predecessor (the
# batch pair is then not consecutive), a stored one just after it and not after its batch successor (`sn`) is
# its successor. Items stored already (a batch sent again, perhaps with more) are not checked again and stand
# in the track as their stored copies (`LOCATED`). (`FAST`: whether the item `t` is too fast
# from or to a neighbour, `TOO_FAST` with the neighbour's place and time.)
TOO_FAST = """(
    2 * 6371008.8::float8 * asin(sqrt(
        sin((radians(t.y) - radians({y})) / 2) ^ 2 + cos(radians({y})) * cos(radians(t.y))
        * sin(radians(t.x - {x}) / 2) ^ 2
    )) / greatest(abs(extract(epoch FROM t.dt - {t}))::float8, 1.0) > %(max_speed)s
)"""
# An item stored already (a retry) is not in the batch's part of the track: its stored copy is, as the probes
# read it (as reviewed since: a rejected one left out; its fix as stored, not as sent again).
LOCATED = f"""u.x IS NOT NULL AND u.ch <> '{Channel.PHONE}'
                AND NOT EXISTS (SELECT FROM visits_visit s WHERE s.id = u.id)"""
NEIGHBOURS = "lag(u.dt) OVER w AS pt, lag(u.x) OVER w AS px, lag(u.y) OVER w AS py, lead(u.dt) OVER w AS nt"
TRACK = f"""p.member_id = %(member)s AND p.location IS NOT NULL AND p.channel <> '{Channel.PHONE}'
          AND p.review <> '{Review.REJECTED}'"""
PROBES = f"""
    LEFT JOIN LATERAL (  -- the member's stored located visit just before the item, after its batch's previous
        SELECT p.location, p.device_time FROM visits_visit p
        WHERE t.located AND {TRACK} AND p.id <> t.id
          AND p.device_time <= t.dt AND p.device_time > coalesce(t.pt, '-infinity')
        ORDER BY p.device_time DESC LIMIT 1
    ) sp ON true
    LEFT JOIN LATERAL (  -- … just after the item, not after its batch's next
        SELECT p.location, p.device_time FROM visits_visit p
        WHERE t.located AND {TRACK} AND p.id <> t.id
          AND p.device_time > t.dt AND p.device_time <= coalesce(t.nt, 'infinity')
        ORDER BY p.device_time LIMIT 1
    ) sn ON true"""
FAST = f"""t.located AND coalesce(CASE
        WHEN sp.device_time IS NOT NULL
        THEN {TOO_FAST.format(x="ST_X(sp.location)", y="ST_Y(sp.location)", t="sp.device_time")}
        WHEN t.pt IS NOT NULL THEN {TOO_FAST.format(x="t.px", y="t.py", t="t.pt")}
        ELSE false
    END OR (sn.device_time IS NOT NULL
            AND {TOO_FAST.format(x="ST_X(sn.location)", y="ST_Y(sn.location)", t="sn.device_time")}), false)
    AS fast"""


def insert_sql(upkeep: bool = True, speed: bool = True) -> str:
    """The statement that stores a batch (`upkeep=False`: without the rollups' upkeep, only for measuring
    what it costs); `speed`: with the speed check along the member's track (`TOO_FAST`: a grid member's
    batch with fixes; other batches use the statement without it, which costs less to parse and plan)."""
    states = ", %(areas)s::bigint[], %(kinds)s::text[], %(needs)s::int[]"
    states, state_columns = (states, ", area, kind, need") if upkeep else ("", "")
    batch = f"""unnest(%(ids)s::uuid[], %(hids)s::bigint[], %(channels)s::text[], %(xs)s::float8[],
                %(ys)s::float8[], %(acc)s::float8[], %(dist)s::float8[], %(times)s::timestamptz[],
                %(notes)s::text[], %(findings)s::text[], %(issues)s::uuid[],
                %(flags)s::text[], %(repeats)s::text[]{states})"""
    columns = f"id, h, ch, x, y, acc, dist, dt, notes, f, issue, fl, flr{state_columns}"
    source, probes, fast = f"{batch}\n         AS t({columns})", "", "false AS fast"
    flags = "CASE WHEN t.rep THEN t.flr ELSE t.fl END"
    if speed:  # the batch's located items in time order (the batch's at equal times), with their neighbours
        source = f"""(
        SELECT u.*, {NEIGHBOURS}
        FROM (SELECT u.*, {LOCATED} AS located FROM {batch} WITH ORDINALITY AS u({columns}, ord)) u
        WINDOW w AS (PARTITION BY u.located ORDER BY u.dt, u.ord)
    ) t"""
        probes, fast = PROBES, FAST
        # (an array literal's text; its flags kept sorted, as Python sorts them)
        flags = f"""CASE WHEN t.fast THEN ARRAY(
            SELECT f FROM unnest(array_append(({flags})::text[], '{Flag.SPEED}')) f ORDER BY f COLLATE "C"
        )::text ELSE {flags} END"""
    return f"""
WITH t AS (
    SELECT t.*, lc.last, CASE
        WHEN lc.last IS NULL OR lc.last <= t.dt - %(window)s THEN false
        WHEN lc.last < t.dt + %(window)s THEN true
        ELSE EXISTS (SELECT FROM visits_visit v WHERE v.household_id = t.h AND v.counted
                     AND v.device_time > t.dt - %(window)s AND v.device_time < t.dt + %(window)s)
    END AS rep,
    {fast}
    FROM {source}
    CROSS JOIN LATERAL (  -- (one backward probe of the visits' (household, time) index)
        SELECT max(v.device_time) AS last FROM visits_visit v WHERE v.household_id = t.h AND v.counted
    ) lc{probes}
), ins AS (
    INSERT INTO visits_visit ({", ".join(COPY_COLUMNS)})
    SELECT t.id, t.h, %(member)s, %(user)s, t.ch,
           CASE WHEN t.x IS NOT NULL THEN ST_SetSRID(ST_MakePoint(t.x, t.y), 4326) END,
           t.acc, t.dist, t.dt, %(now)s, t.notes, t.f::varchar[], '', t.issue, c.fl::varchar[],
           CASE WHEN c.fl = '{{}}' THEN '{Review.NONE}' ELSE '{Review.PENDING}' END, '', c.fl = '{{}}'
    FROM t CROSS JOIN LATERAL (
        SELECT {flags} AS fl
    ) c
    ON CONFLICT (id) DO NOTHING
    RETURNING id, counted
), {UPKEEP_CTES if upkeep else "unused AS (SELECT)"}, logged AS (
    -- The audit row `audit.record(action="visits.sync", created=…, received=…)` would write.
    INSERT INTO core_auditentry (at, actor_id, action, object_type, object_id, data)
    SELECT %(now)s, %(user)s, 'visits.sync', 'visits.visit', '',
           jsonb_build_object('created', c.n, 'received', %(received)s::int)
    FROM (SELECT count(*) AS n FROM ins) c WHERE c.n > 0
)
SELECT t.id::text, ins.id IS NOT NULL, t.rep, t.fast FROM t LEFT JOIN ins ON ins.id = t.id
WHERE ins.id IS NOT NULL OR t.rep
"""


# (upkeep, speed check) -> statement; without the upkeep only for measuring what it costs (`UPKEEP`)
INSERTS = {(upkeep, speed): insert_sql(upkeep, speed) for upkeep in (True, False) for speed in (True, False)}


def pg_array(values: list[Any], text: bool = False) -> str:
    """A PostgreSQL array literal of numbers, UUIDs, or (`text`) strings, quoted; None is NULL. (Lists, not
    generators, into `join`: a batch makes about 20 of these per request.)"""
    if text:
        return (
            "{"
            + ",".join(
                [
                    "NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for v in values
                ]
            )
            + "}"
        )
    return (
        "{"
        + ",".join(["NULL" if v is None else repr(v) if v.__class__ is float else str(v) for v in values])
        + "}"
    )


def _insert(
    items: list[_Item], actor: Any, now: datetime, received: int, track: bool = False
) -> tuple[set[str], set[str]]:
    """Store the batch and its audit row (in the caller's transaction); returns the ids created by this
    call, and those of the items that repeat a stored visit (`flags_repeat`); `track`: check the speed
    along the member's track (`TOO_FAST`) and mark the created items flagged for it `fast`. `received`: the
    items of the request, bad ones included."""
    member = getattr(actor, "member", None)
    params = {
        "ids": pg_array([it.id for it in items]),
        "hids": pg_array([it.household for it in items]),
        "channels": pg_array([it.channel for it in items]),
        "xs": pg_array([it.lon for it in items]),
        "ys": pg_array([it.lat for it in items]),
        "acc": pg_array([it.accuracy for it in items]),
        "dist": pg_array([it.distance for it in items]),
        "times": pg_array([it.device_time.isoformat() for it in items], text=True),
        "notes": pg_array([it.notes for it in items], text=True),
        # Findings and flags are known words: their inner literals need no quoting.
        "findings": pg_array(["{" + ",".join(it.findings) + "}" for it in items], text=True),
        "issues": pg_array([it.issue_ref for it in items]),
        "flags": pg_array(["{" + ",".join(it.flags) + "}" for it in items], text=True),
        "repeats": pg_array(["{" + ",".join(it.flags_repeat) + "}" for it in items], text=True),
        "window": f"{rules()['repeat_window_hours']} hours",
        # (the statement without the upkeep, only for measuring it, has no use for the states)
        **(
            {
                "areas": pg_array([it.state[0] for it in items]),
                "kinds": pg_array([it.state[1] for it in items]),
                "needs": pg_array([it.state[2] for it in items]),
            }
            if UPKEEP
            else {}
        ),
        "member": member.pk if member is not None else None,
        "max_speed": float(rules()["max_speed_mps"]),
        "user": actor.pk if getattr(actor, "is_authenticated", False) else None,
        "now": now,
        "tz": settings.TIME_ZONE,
        "received": received,
    }
    rows = prepared.execute(INSERTS[UPKEEP, track], params, INSERT_TYPES)
    if track:
        flagged = {i for i, created, _rep, fast in rows if created and fast}
        for it in items:
            it.fast = it.id in flagged
    return {i for i, created, _rep, _fast in rows if created}, {i for i, _created, rep, _fast in rows if rep}


# The types of the batch statement's parameters (it is prepared once per connection: `core.prepared`).
INSERT_TYPES = {
    "ids": "uuid[]",
    "hids": "bigint[]",
    "channels": "text[]",
    "xs": "float8[]",
    "ys": "float8[]",
    "acc": "float8[]",
    "dist": "float8[]",
    "times": "timestamptz[]",
    "notes": "text[]",
    "findings": "text[]",
    "issues": "uuid[]",
    "flags": "text[]",
    "repeats": "text[]",
    "window": "interval",
    "areas": "bigint[]",
    "kinds": "text[]",
    "needs": "int[]",
    "member": "bigint",
    "max_speed": "float8",
    "user": "bigint",
    "now": "timestamptz",
    "tz": "text",
    "received": "int",
}


@transaction.atomic
def review(*, visit: Visit, approve: bool, reason: str, actor: Any) -> Visit:
    """The grid leader approves a flagged visit (it then counts) or rejects it with a reason."""
    visit = Visit.objects.select_for_update().get(pk=visit.pk)
    if visit.review != Review.PENDING:
        from gridgov.core.errors import GridgovError

        raise GridgovError("visits.decided", detail=visit.get_review_display())
    if approve:  # before it counts: the upkeep counts what was counted before it
        rollups.add_counted([(visit.household_id, visit.device_time)])
    visit.review = Review.APPROVED if approve else Review.REJECTED
    visit.counted = approve
    visit.reviewed_by = actor
    visit.reviewed_at = timezone.now()
    visit.review_reason = reason.strip()
    visit.save(update_fields=["review", "counted", "reviewed_by", "reviewed_at", "review_reason"])
    audit.record(
        actor=actor, action="visits.review", obj=visit, decision=visit.review, reason=visit.review_reason
    )
    return visit


@transaction.atomic
def households_reassign(*, codes: list[str], area_code: str, actor: Any, reason: str = "") -> int:
    """A grid leader moves households to another responsibility area (so another member) of their grid.

    Every move is audited with the area it came from. Households or an area outside the leader's
    scope are refused (nothing moves).
    """
    from gridgov.core.errors import GridgovError
    from gridgov.geo.models import ResponsibilityArea

    if (
        getattr(actor, "role", None) not in (Role.LEADER, Role.COMMUNITY, Role.ADMIN)
        and not actor.is_superuser
    ):
        raise GridgovError("scope.denied")
    area = (
        scoping.visible_nodes(actor, ResponsibilityArea.objects.select_related("grid"))
        .filter(code=area_code)
        .first()
    )
    if area is None or not scoping.in_scope_code(actor, area.code):
        raise GridgovError("scope.denied")
    found = scoping.households(actor).filter(code__in=codes)
    # Every household named is locked first, in id order, as a sync batch locks its households (the
    # updates below and the rollups refresh lock them too: a household left where it is would be locked
    # after later ones), and read again under its lock.
    rollups.lock_households(found.values_list("id", flat=True))
    rows = list(found.select_related("area").order_by("pk"))
    if len(rows) != len(set(codes)):
        raise GridgovError("scope.denied")
    moved = 0
    for h in rows:
        if h.area_id == area.pk:
            continue
        before = h.area.code if h.area else None
        # update(), not save(): the per-row signal would refresh the rollups once per household; they
        # are refreshed once for all of them below.
        Household.objects.filter(pk=h.pk).update(area=area, updated_at=timezone.now())
        audit.record(
            actor=actor, action="households.reassign", obj=h, source=before, target=area.code, reason=reason
        )
        moved += 1
    rollups.refresh([h.pk for h in rows])
    return moved


def reassign_warnings(out_of_range: list[dict[str, Any]]) -> list[str]:
    """The leader's words for `areas_out_of_range`."""
    return [
        _("Area {area} now has {n} households (its range: {low}–{high}).").format(
            area=o["area"], n=o["households"], low=o["min"], high=o["max"]
        )
        for o in out_of_range
    ]


def areas_out_of_range(area_ids: list[int]) -> list[dict[str, Any]]:
    """The responsibility areas among `area_ids` whose active households fall outside their community's area
    range (the plan in force's settings, else the defaults: 15–20): what a leader moving households should
    see before a member is left with too many or too few. Counts households (not weighted workload)."""
    from django.db.models import Count, Q

    from gridgov.geo.models import ResponsibilityArea
    from gridgov.gridding.models import GriddingPlan
    from gridgov.gridding.services import GriddingSettings

    areas = list(
        ResponsibilityArea.objects.filter(pk__in=area_ids)
        .select_related("grid")
        .annotate(n=Count("households", filter=Q(households__active=True)))
        .order_by("code")
    )
    default = GriddingSettings()
    ranges = {
        community: (config.get("area_min", default.area_min), config.get("area_max", default.area_max))
        for community, config in GriddingPlan.objects.filter(
            community__in={a.grid.community_id for a in areas}, status=GriddingPlan.Status.APPROVED
        ).values_list("community_id", "config")
    }
    out = []
    for a in areas:
        low, high = ranges.get(a.grid.community_id, (default.area_min, default.area_max))
        if not low <= a.n <= high:
            out.append({"area": a.code, "households": a.n, "min": low, "max": high})
    return out
