"""Statements prepared once per connection (gridgov.core.prepared): same rows and errors as Django's cursor,
in Django's transaction, seen by query logging and execute wrappers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from gridgov.core import prepared

pytestmark = pytest.mark.django_db

SQL = "SELECT %(n)s + 1, %(t)s, %(when)s, %(none)s IS NULL, cardinality(%(ids)s), %(flag)s"
TYPES = {"n": "bigint", "t": "text", "when": "timestamptz", "none": "int", "ids": "int[]", "flag": "boolean"}


def statements(text: str) -> list[tuple[str, bool]]:
    with connection.cursor() as cur:
        sql = "SELECT name, from_sql FROM pg_prepared_statements WHERE statement LIKE %s"
        cur.execute(sql, [f"%{text}%"])
        return cur.fetchall()


def test_rows_and_types_come_from_the_placeholders_and_the_statement_is_prepared_once():
    when = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8)))
    params = {"n": 41, "t": 'a "quoted", {braced} \\ text', "when": when, "none": None, "ids": "{1,2,3}"}
    rows = prepared.execute(SQL, params | {"flag": True, "unused": 1}, TYPES | {"unused": "int"})
    assert rows == [(42, params["t"], when.astimezone(UTC), True, 3, True)]
    first = statements("cardinality(")
    assert len(first) == 1 and first[0][1] is False  # prepared through the protocol, not by SQL PREPARE
    # The same text again: the same statement, not another one; a value as text works the same.
    assert prepared.execute(SQL, params | {"n": "1", "flag": False}, TYPES)[0][0] == 2
    assert statements("cardinality(") == first


def test_positional_placeholders():
    assert prepared.execute("SELECT %s::text || %s", ["a", 7], ["text", "int"]) == [("a7",)]
    with pytest.raises(ValueError):
        prepared.execute("SELECT %s", [1, 2], ["int", "int"])


def test_a_failing_statement_raises_djangos_error_and_the_transaction_is_rolled_back():
    from gridgov.core.models import AuditEntry

    sql = (
        "INSERT INTO core_auditentry (at, actor_id, action, object_type, object_id, data)"
        " VALUES (now(), NULL, %s, '', '', '{}') RETURNING id"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        assert prepared.execute(sql, ["test.prepared"], ["text"])  # in the transaction, seen by its queries
        assert AuditEntry.objects.filter(action="test.prepared").count() == 1
        prepared.execute(sql, [None], ["text"])  # the action may not be NULL
    assert not AuditEntry.objects.filter(action="test.prepared").exists()
    # The connection is usable again, and the statement still prepared.
    assert prepared.execute("SELECT %s", [5], ["int"]) == [(5,)]


def test_queries_are_logged_and_execute_wrappers_called():
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append((sql, params))
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(wrapper):
        assert prepared.execute("SELECT %s + 1", [1], ["int"]) == [(2,)]
    assert seen == [("SELECT ($1::int) + 1", ["1"])]
    assert len(queries) == 1 and "($1::int) + 1" in queries[0]["sql"]
