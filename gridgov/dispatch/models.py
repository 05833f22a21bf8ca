"""Functional departments (职能部门), routing rules, and notifications with their senders."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
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


class RoutingRule(models.Model):
    """Which department a category goes to in an area (data, like FixMyStreet's contacts).

    The most specific rule wins: the longest matching area-code prefix, then the lowest priority
    number; an empty prefix applies everywhere.
    """

    category = models.ForeignKey(
        "cases.Category", on_delete=models.CASCADE, related_name="routing_rules", verbose_name=_("category")
    )
    node_prefix = models.CharField(
        _("area code prefix"), max_length=17, blank=True, help_text=_("Empty: the whole district.")
    )
    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="routing_rules", verbose_name=_("department")
    )
    priority = models.PositiveSmallIntegerField(_("priority"), default=100)

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        ordering = ["category", "-node_prefix", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["category", "node_prefix", "department"], name="routing_rule_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.category} @ {self.node_prefix or '*'} → {self.department}"


class Notification(models.Model):
    """An in-app notice to one user about one issue."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("user"),
    )
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("issue"),
    )
    verb = models.CharField(_("what happened"), max_length=30)
    text = models.CharField(_("text"), max_length=300)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["user", "created_at"], name="notification_unread_idx", condition=Q(read_at=None)
            )
        ]

    def __str__(self) -> str:
        return self.text


class OutboundStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SENT = "sent", _("sent")
    FAILED = "failed", _("failed")


class OutboundMessage(models.Model):
    """A message to send by e-mail or SMS. Written in the transaction that caused it; sent after commit,
    with retries and exponential back-off, by a sender plug-in per channel (`senders.py`)."""

    channel = models.CharField(_("channel"), max_length=10)
    recipient = models.CharField(_("recipient"), max_length=254)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"))
    case = models.ForeignKey(
        "cases.Case",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("issue"),
    )
    status = models.CharField(_("status"), max_length=8, choices=OutboundStatus.choices, default="pending")
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbound message")
        verbose_name_plural = _("outbound messages")
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="outbound_pending_idx", condition=Q(status="pending")
            )
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.recipient}: {self.subject or self.body[:40]}"
