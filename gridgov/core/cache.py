"""Django's Redis cache, keeping its redis client objects instead of making one per call.

Django's RedisCacheClient builds a new `redis.Redis` for every get and set (on the same connection pool);
with redis-py 8 that costs about as much as the GET itself on a local Redis, and an API request makes
two (its session, its user). A `redis.Redis` is safe to share between threads (it takes a connection
from its pool per command), and the pool itself starts afresh in a forked process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends import redis as django_redis

logger = logging.getLogger(__name__)


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient


def get_or_make(key: str, timeout: int, make: Callable[[], Any]) -> Any:
    """`make()` kept in the shared cache for `timeout` seconds; made afresh when the cache is down."""
    from django.core.cache import cache

    try:
        value = cache.get(key)
    except Exception:
        logger.warning("cache unavailable: %s made afresh", key, exc_info=True)
        return make()
    if value is None:
        value = make()
        try:
            cache.set(key, value, timeout)
        except Exception:
            logger.warning("cache unavailable: %s not kept", key, exc_info=True)
    return value
