"""Statements prepared once per database connection and run with their parameters bound on the server.

Django's PostgreSQL backend binds parameters on the client: every call quotes each value into the SQL text
and PostgreSQL parses the whole text again. For the few statements run on every request of a burst (a
phone's batch: the resolving statement and the batch's own; the session user on a cache miss) that costs
more than it needs to. `execute()` runs such a statement through psycopg's own prepared statements on
Django's connection: the text is sent and planned once per connection (psycopg names it and keeps up to
`prepared_max` per connection, re-preparing one it dropped), then each call sends only the statement's
name and its parameters, as text, unquoted. Each placeholder gets the type given for it (`$n::type`), so
that PostgreSQL knows every parameter's type from the text alone, whatever the Python value.

The statement runs in Django's transaction (the same connection, its atomic blocks), with Django's error
wrapping (psycopg's errors become `django.db` ones), its execute wrappers and, when queries are logged
(DEBUG, `CaptureQueriesContext`), in `connection.queries` like any other query.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import date, datetime
from typing import Any

from django.db import connections
from psycopg import RawCursor

NEVER = 2**62  # a preparation threshold (executions of one query) that no query reaches
# sql text -> (the text with $n::type placeholders, the parameters' keys in order or None for positional)
_bodies: dict[tuple[str, tuple[str, ...]], tuple[str, list[str] | None]] = {}


def _body(sql: str, types: dict[str, str] | list[str]) -> tuple[str, list[str] | None]:
    """`sql` with `%(key)s` (types a dict: key → type, in the order of the values) or `%s` (types a list, in
    order) placeholders as `$n::type`."""
    key = (sql, tuple(types.items()) if isinstance(types, dict) else tuple(types))
    found = _bodies.get(key)
    if found is None:
        if isinstance(types, dict):  # a key the text does not use is not sent (its type would be unknown)
            used = [(name, kind) for name, kind in types.items() if f"%({name})s" in sql]
            keys, body = [name for name, _kind in used], sql
            for i, (name, kind) in enumerate(used, 1):
                body = body.replace(f"%({name})s", f"(${i}::{kind})")
            if re.search(r"%\(\w+\)s", body):
                raise ValueError(f"a placeholder of {sql[:80]!r} has no type")
            found = (body, keys)
        else:
            n = sql.count("%s")
            if n != len(types):
                raise ValueError(f"{n} placeholders, {len(types)} types")
            numbers = itertools.count(1)
            found = (re.sub("%s", lambda _m: f"(${(i := next(numbers))}::{types[i - 1]})", sql), None)
        if "%" in found[0].replace("%%", ""):
            raise ValueError(f"a literal % in a prepared statement: {sql[:80]!r}")
        _bodies[key] = found
    return found


def _text(value: Any) -> str | None:
    """A parameter as PostgreSQL's text input of its type (the statement's placeholder gives the type)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"no text form for a parameter of type {type(value).__name__}")


def execute(
    sql: str, params: dict[str, Any] | list[Any], types: dict[str, str] | list[str], using: str = "default"
) -> list[tuple[Any, ...]]:
    """Run `sql` (named `%(key)s` placeholders with `params` and `types` dicts, or positional `%s` with lists
    in the same order; no literal `%`) as a statement prepared once per connection, in the current
    transaction; returns its rows (an empty list for a statement that returns none)."""
    connection = connections[using]
    body, keys = _body(sql, types)
    values = [_text(params[k]) for k in keys] if keys is not None else [_text(v) for v in params]  # type: ignore[call-overload]
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    if connection.connection.prepare_threshold is None:
        # Django turns psycopg's preparation off (a threshold of None), which also ignores `prepare=True`. A
        # threshold no query reaches keeps the automatic preparation of other queries off.
        connection.connection.prepare_threshold = NEVER
    with RawCursor(connection.connection) as cur:

        def run(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
            with connection.wrap_database_errors:
                cur.execute(sql, params, prepare=True)
                return cur.fetchall() if cur.description is not None else []

        executor = run
        for wrapper in reversed(connection.execute_wrappers):
            executor = _wrapped(wrapper, executor)
        context = {"connection": connection, "cursor": cur}
        if not connection.queries_logged:
            return executor(body, values, False, context)
        start = time.monotonic()
        try:
            return executor(body, values, False, context)
        finally:
            connection.queries_log.append(
                {"sql": f"{body} -- {values!r}", "time": f"{time.monotonic() - start:.3f}"}
            )


def _wrapped(wrapper: Any, executor: Any) -> Any:
    return lambda sql, params, many, context: wrapper(executor, sql, params, many, context)
