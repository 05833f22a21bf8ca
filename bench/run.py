"""Benchmarks (`make bench`): medians of repeated runs on the demo city, with a baseline.

Foundation figures: how much the scoping layer costs on the main read paths, measured against the
same request made by an unscoped administrator (baseline) in the same run.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridgov.settings.bench")

import django

django.setup()

from django.test import Client  # noqa: E402

from gridgov.accounts.models import User  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int = 15) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def client_for(username: str) -> Client:
    c = Client()
    c.force_login(User.objects.get(username=username))
    return c


def main() -> None:
    if not User.objects.filter(username="admin").exists():
        sys.exit("run `make demo` first: the benchmark uses the demo city and its users")
    rows = []
    admin, member, street = client_for("admin"), client_for("member"), client_for("street")

    def get(c: Client, url: str) -> Callable[[], object]:
        def run() -> object:
            r = c.get(url)
            assert r.status_code == 200, (url, r.status_code)
            return b"".join(r.streaming_content) if r.streaming else r.content

        return run

    cases = [
        ("household API, 500 per page", "/api/v1/households/?format=json&page_size=500"),
        ("areas GeoJSON (whole scope)", "/api/v1/areas/?format=json&page_size=5000"),
        ("home page", "/"),
        ("household ledger page", "/households/"),
    ]
    for label, url in cases:
        base = median_ms(get(admin, url))
        rows.append((label, "admin (baseline)", base, 1.0))
        for name, c in (("street", street), ("member", member)):
            ms = median_ms(get(c, url))
            rows.append((label, name, ms, ms / base))
    export_admin = median_ms(get(admin, "/households/export.csv"), repeat=3)
    export_street = median_ms(get(street, "/households/export.csv"), repeat=3)
    rows.append(("CSV export (all in scope)", "admin (baseline)", export_admin, 1.0))
    rows.append(("CSV export (all in scope)", "street", export_street, export_street / export_admin))
    print(f"{'case':<32} {'user':<18} {'median ms':>10} {'ratio':>7}")
    for label, user, ms, ratio in rows:
        print(f"{label:<32} {user:<18} {ms:>10.1f} {ratio:>7.2f}")


if __name__ == "__main__":
    main()
