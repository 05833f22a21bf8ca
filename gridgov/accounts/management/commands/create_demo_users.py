"""manage.py create_demo_users: one demo login per role, scoped into the demo city."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand

from gridgov.accounts.services import ensure_demo_users


class Command(BaseCommand):
    help = "Create (or reset) one demo user per role and print their credentials."

    def handle(self, *args: Any, **opts: Any) -> None:
        password = os.environ.get("GRIDGOV_DEMO_PASSWORD", "gridgov-demo")
        users = ensure_demo_users(password=password)
        if not users:
            self.stdout.write("No demo city loaded: no demo users created.")
            return
        self.stdout.write(f"Demo users (password for all: {password}):")
        for user in users:
            self.stdout.write(
                f"  {user.username:<12} {user.get_role_display():<22} scope {user.scope_code or '-'}"
            )
