"""Load demo issues into the demo city (after load_demo_city and create_demo_users)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gridgov.cases.demo import load_demo_cases


class Command(BaseCommand):
    help = "Create synthetic demo issues at every stage of the loop (nothing when issues exist)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--count", type=int, default=300)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **opts: Any) -> None:
        made = load_demo_cases(count=opts["count"], seed=opts["seed"])
        self.stdout.write(f"{made} demo issues created." if made else "Issues exist already: none created.")
