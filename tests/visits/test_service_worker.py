"""The member's offline page: a changed script reaches phones that installed the service worker."""

from __future__ import annotations

import os
import re

from django.test import Client, override_settings


def cache_name(client: Client) -> str:
    r = client.get("/visits/sw.js")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/javascript")
    return re.search(r'const CACHE = "([^"]+)"', r.content.decode()).group(1)


def test_the_workers_cache_follows_the_files_it_serves_cache_first(tmp_path):
    """The worker serves visits.js from its cache first and static URLs carry no hash: with the cache named
    "gridgov-visits-v1" for good, a phone kept the first visits.js it saw through every later release."""
    script = tmp_path / "visits" / "visits.js"
    script.parent.mkdir()
    script.write_text("/* release 1 */")
    client = Client()
    with override_settings(STATICFILES_DIRS=[tmp_path]):  # found before the app's own copy
        first = cache_name(client)
        assert cache_name(client) == first  # the same files, the same worker: nothing re-installed
        script.write_text("/* release 2, a little longer */")
        second = cache_name(client)
    assert second != first


def test_servers_of_one_release_name_the_cache_alike(tmp_path):
    """The name follows the files' contents, not their modification times: two servers of one release (or a
    checkout made again) whose copies differ only in time give phones the same worker."""
    script = tmp_path / "visits" / "visits.js"
    script.parent.mkdir()
    script.write_text("/* release 1 */")
    client = Client()
    with override_settings(STATICFILES_DIRS=[tmp_path]):
        first = cache_name(client)
        os.utime(script, ns=(1_000_000_000, 1_000_000_000))  # the same bytes, another time
        assert cache_name(client) == first
        script.write_text("/* release 2 */")  # the same size, other bytes
        assert cache_name(client) != first
