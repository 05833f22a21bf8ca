"""Sender plug-ins, one per channel (FixMyStreet's SendReport): e-mail through Django's mail backend,
SMS through an adapter the deployment names in GRIDGOV_SMS_SENDER. A sender raises on failure; the
outbox counts the failure and tries again later."""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class Sender(Protocol):
    def send(self, recipient: str, subject: str, body: str) -> None: ...


class EmailSender:
    def send(self, recipient: str, subject: str, body: str) -> None:
        send_mail(subject or body[:60], body, settings.DEFAULT_FROM_EMAIL, [recipient], fail_silently=False)


class SmsSender:
    """Base of SMS adapters: subclass it for the intranet SMS gateway and set GRIDGOV_SMS_SENDER."""

    def send(self, recipient: str, subject: str, body: str) -> None:
        raise NotImplementedError


class LoggingSmsSender(SmsSender):
    """The default when no gateway is configured: the message goes to the log only."""

    def send(self, recipient: str, subject: str, body: str) -> None:
        log.warning("SMS (no gateway configured) to %s: %s", recipient, body)


def sender_for(channel: str) -> Sender:
    if channel == "email":
        return EmailSender()
    if channel == "sms":
        return import_string(settings.GRIDGOV_SMS_SENDER)()
    raise ValueError(f"no sender for channel {channel!r}")
