"""The authentication backend: Django's, loading a user's member record with the user.

Every request of a grid member reads `user.member` (scoping, visits); fetching it in the query that
loads the user from the session saves a round trip per request.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend


class MemberModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        from django.contrib.auth import get_user_model

        model = get_user_model()
        try:
            user = model._default_manager.select_related("member").get(pk=user_id)
        except model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
