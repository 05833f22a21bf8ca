"""Sessions kept in PostgreSQL and read through the Redis cache, surviving a Redis outage.

Django's `cached_db` store falls back to the database when a cache read fails, but then writes the
session back to the cache and fails there: with Redis down, every logged-in request would answer 500.
Here a cache that cannot be written is logged and skipped; the database stays the record.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends import cached_db

logger = logging.getLogger(__name__)


class _Tolerant:
    """The session cache, with writes, deletes and membership tests that log or answer no instead of
    raising."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._cache.get(*args, **kwargs)  # cached_db already tolerates a failed read

    def __contains__(self, key: str) -> bool:
        try:
            return key in self._cache
        except Exception:
            return False  # `exists` then asks the database

    def set(self, *args: Any, **kwargs: Any) -> None:
        try:
            self._cache.set(*args, **kwargs)
        except Exception:
            logger.warning("session cache unavailable: write skipped", exc_info=True)

    def delete(self, *args: Any, **kwargs: Any) -> None:
        try:
            self._cache.delete(*args, **kwargs)
        except Exception:
            logger.warning("session cache unavailable: delete skipped", exc_info=True)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cache, name)


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _Tolerant(self._cache)
