"""API keys of the Open311 clients allowed to post service requests.

Only a SHA-256 hash of each key is stored; the key itself is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

KEY_PREFIX = "o311_"


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class ApiKey(models.Model):
    name = models.CharField(
        _("client"), max_length=40, unique=True, help_text=_("Who uses the key (an app, a partner).")
    )
    prefix = models.CharField(
        _("key starts with"), max_length=12, editable=False, help_text=_("To recognise a key.")
    )
    key_hash = models.CharField(_("SHA-256 of the key"), max_length=64, unique=True, editable=False)
    active = models.BooleanField(_("active"), default=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("Open311 API key")
        verbose_name_plural = _("Open311 API keys")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def new_key(self) -> str:
        """Give the key a fresh secret (not saved); returns the secret, which is never stored."""
        raw = KEY_PREFIX + secrets.token_urlsafe(32)
        self.prefix = raw[: len(KEY_PREFIX) + 4]
        self.key_hash = hash_key(raw)
        return raw

    @classmethod
    def issue(cls, name: str, **fields: object) -> tuple[ApiKey, str]:
        """Create a key; returns (row, secret)."""
        key = cls(name=name, **fields)
        raw = key.new_key()
        key.save()
        return key, raw

    @classmethod
    def authenticate(cls, raw: str | None) -> ApiKey | None:
        """The active key whose hash matches, with its last use recorded; None otherwise."""
        if not raw or len(raw) > 200:
            return None
        key = cls.objects.filter(key_hash=hash_key(raw.strip()), active=True).first()
        if key is not None:
            now = timezone.now()
            cls.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now
        return key
