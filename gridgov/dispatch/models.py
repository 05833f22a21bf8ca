"""Functional departments (职能部门) that receive dispatched issues."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from gridgov.core.models import TimeStamped


class Department(TimeStamped):
    code = models.CharField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    district = models.ForeignKey(
        "geo.District", on_delete=models.PROTECT, related_name="departments", verbose_name=_("district")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name
