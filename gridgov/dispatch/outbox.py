"""The outbox: messages are rows written with the change that caused them and sent after it commits.

Delivery retries with exponential back-off (1, 2, 4 … minutes, at most a day apart) and gives up after
`MAX_ATTEMPTS`; a failed message stays in the table with its last error for an administrator.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from .models import OutboundMessage, OutboundStatus
from .senders import sender_for

MAX_ATTEMPTS = 8
log = logging.getLogger(__name__)


def queue(channel: str, recipient: str, body: str, *, subject: str = "", case: Any = None) -> OutboundMessage:
    msg = OutboundMessage.objects.create(
        channel=channel,
        recipient=recipient,
        subject=subject[:200],
        body=body,
        case=case,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: _enqueue(msg.pk))
    return msg


def _enqueue(pk: int) -> None:
    from .tasks import deliver

    try:
        deliver.delay(pk)
    except OperationalError as exc:  # broker down: the periodic `deliver_due` picks the message up
        log.warning("message %s queued in the outbox only (broker unreachable: %s)", pk, exc)


def backoff(attempts: int) -> timedelta:
    return timedelta(minutes=min(2 ** (attempts - 1), 24 * 60))


def deliver(pk: int, *, now: datetime | None = None) -> str:
    """Try to send one message (once); returns its status afterwards."""
    now = now or timezone.now()
    with transaction.atomic():
        msg = (
            OutboundMessage.objects.select_for_update(skip_locked=True)
            .filter(pk=pk, status="pending")
            .first()
        )
        if msg is None:
            return "skipped"
        msg.attempts += 1
        try:
            sender_for(msg.channel).send(msg.recipient, msg.subject, msg.body)
        except Exception as exc:  # any sender failure (SMTP, gateway, plug-in bug) is recorded and retried
            msg.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if msg.attempts >= MAX_ATTEMPTS:
                msg.status, msg.next_attempt_at = OutboundStatus.FAILED, None
            else:
                msg.next_attempt_at = now + backoff(msg.attempts)
        else:
            msg.status, msg.sent_at, msg.next_attempt_at, msg.last_error = OutboundStatus.SENT, now, None, ""
        msg.save()
        return msg.status


def deliver_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send every pending message whose next attempt is due; returns how many were tried."""
    now = now or timezone.now()
    due = list(
        OutboundMessage.objects.filter(status="pending", next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        deliver(pk, now=now)
    return len(due)
