"""A fixed-window rate limit on the shared cache (Redis in production, so every worker counts together)."""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'5/h' → (5, 3600); raises ValueError when malformed."""
    count, _, unit = rate.partition("/")
    if unit[:1] not in UNITS or not count.isdigit():
        raise ValueError(f"a rate looks like '5/h', not {rate!r}")
    return int(count), UNITS[unit[:1]]


def allow(key: str, rate: str, *, now: float | None = None) -> bool:
    """Count one hit for `key`; False once the window's allowance is used up. With the cache down the
    limit cannot count: it lets the request through (residents can still report) and logs it."""
    limit, period = parse_rate(rate)
    window = int((now if now is not None else time.time()) // period)
    name = f"ratelimit:{key}:{window}"
    try:
        cache.add(name, 0, timeout=period)
        try:
            return cache.incr(name) <= limit
        except ValueError:  # expired between add and incr
            cache.set(name, 1, timeout=period)
            return True
    except Exception:
        logger.warning("rate limit cache unavailable: %s let through", key, exc_info=True)
        return True


def client_address(request: object) -> str:
    """The client's address; behind the intranet's reverse proxy set GRIDGOV_TRUSTED_PROXY=1."""
    from django.conf import settings

    meta = getattr(request, "META", {})
    if getattr(settings, "GRIDGOV_TRUSTED_PROXY", False) and meta.get("HTTP_X_FORWARDED_FOR"):
        return meta["HTTP_X_FORWARDED_FOR"].split(",")[0].strip()
    return meta.get("REMOTE_ADDR", "")
