"""The authentication backend: Django's, loading a user's member record with the user, from a cache.

Every request of a grid member reads `user.member` (scoping, visits); fetching it in the query that
loads the user from the session saves a round trip per request. The user (with that member record) is
then kept in the shared cache (the private Redis) for `USER_CACHE_SECONDS`, so that an API request
reads no database row to know who is asking. Saving or deleting a user or a member record drops the
cached copy (gridgov.accounts.signals), at once and again when the transaction commits; the timeout
bounds what a bulk `QuerySet.update()` on users or members (which sends no signal) could leave behind.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models.query import get_related_populators

from gridgov.core import prepared

USER_CACHE_SECONDS = 900
logger = logging.getLogger(__name__)


def user_cache_key(user_id: Any) -> str:
    return f"gridgov:auth-user:{user_id}"


def forget_user(user_id: Any) -> None:
    """Drop the cached copy of a user (and of their member record)."""
    if user_id is not None:
        try:
            cache.delete(user_cache_key(user_id))
        except Exception:  # Redis down: nothing can be read from it either; the timeout bounds the rest
            logger.warning("user cache unavailable: could not drop user %s", user_id, exc_info=True)


class _UserLoader:
    """`User.objects.select_related("member").get(pk=…)` with its SQL compiled once per process and
    prepared once per database connection (`gridgov.core.prepared`).

    On a cache miss (a member's first request in `USER_CACHE_SECONDS`: in a burst of phones syncing, most
    of them) compiling that query cost about as much CPU as the rest of loading the user. The row is turned
    into objects as the ORM's own iterator does (`ModelIterable`: the compiler's converters, `from_db`, the
    related populator for the member record), so the user and its member are the ORM's, cached relation
    included (None when the user has no member record)."""

    def __init__(self, model: Any) -> None:
        qs = model._default_manager.select_related("member").filter(pk=0)
        self.db = qs.db
        self.compiler = qs.query.get_compiler(self.db)
        self.sql, params = self.compiler.as_sql()
        if list(params) != [0]:  # the only parameter must be the primary key (checked once)
            raise ValueError(f"unexpected parameters of the user query: {params!r}")
        info, select = self.compiler.klass_info, self.compiler.select
        self.model, fields = info["model"], info["select_fields"]
        self.start, self.end = fields[0], fields[-1] + 1
        self.names = [column[0].target.attname for column in select[self.start : self.end]]
        self.populators = get_related_populators(info, select, self.db)
        self.pk = model._meta.pk
        self.pk_type = self.pk.db_type(connections[self.db])  # the statement is prepared per connection
        # The columns' converters (what `results_iter` works out again on every call), once.
        self.converters = self.compiler.get_converters(
            [column[0] for column in select[: self.compiler.col_count]]
        )

    def __call__(self, user_id: Any) -> Any:
        try:
            pk = self.pk.get_prep_value(self.pk.to_python(user_id))
        except (ValidationError, ValueError, TypeError):
            return None
        rows = prepared.execute(self.sql, [pk], [self.pk_type], using=self.db)
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        for row in rows:
            user = self.model.from_db(self.db, self.names, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, user)
            return user
        return None


_loader: _UserLoader | None = None


def load_user(user_id: Any) -> Any:
    """The user with this id and its member record (one query, compiled once), or None."""
    global _loader
    if _loader is None:
        from django.contrib.auth import get_user_model

        _loader = _UserLoader(get_user_model())
    return _loader(user_id)


class MemberModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        key = user_cache_key(user_id)
        try:
            user = cache.get(key)
        except Exception:  # the cache is down: the database still answers
            logger.warning("user cache unavailable", exc_info=True)
            user = key = None
        if user is None:
            user = load_user(user_id)
            if user is None:
                return None
            if key is not None:
                cache.set(key, user, USER_CACHE_SECONDS)
        return user if self.user_can_authenticate(user) else None
