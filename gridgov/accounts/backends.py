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


class MemberModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        from django.contrib.auth import get_user_model

        key = user_cache_key(user_id)
        try:
            user = cache.get(key)
        except Exception:  # the cache is down: the database still answers
            logger.warning("user cache unavailable", exc_info=True)
            user = key = None
        if user is None:
            model = get_user_model()
            try:
                user = model._default_manager.select_related("member").get(pk=user_id)
            except (model.DoesNotExist, ValueError, TypeError):
                return None
            if key is not None:
                cache.set(key, user, USER_CACHE_SECONDS)
        return user if self.user_can_authenticate(user) else None
