"""Transactional tests elsewhere flush the tables, seeded rows included: re-seed the default policies."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps


@pytest.fixture(autouse=True)
def default_policies(db) -> None:
    seed = importlib.import_module("gridgov.visits.migrations.0002_default_policies").seed
    seed(django_apps, None)
