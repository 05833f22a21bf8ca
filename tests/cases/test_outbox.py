"""The outbox: messages leave only after the change commits, failures retry with back-off."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from gridgov.dispatch import outbox
from gridgov.dispatch.models import OutboundMessage
from gridgov.dispatch.senders import SmsSender


class FlakySms(SmsSender):
    failures = 0

    def send(self, recipient: str, subject: str, body: str) -> None:
        if FlakySms.failures > 0:
            FlakySms.failures -= 1
            raise ConnectionError("gateway down")


def test_nothing_is_sent_for_a_change_that_rolled_back(db, django_capture_on_commit_callbacks) -> None:
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        outbox.queue("email", "resident@example.com", "正文", subject="主题")
        raise RuntimeError("the change failed")
    assert callbacks == [] and mail.outbox == [] and not OutboundMessage.objects.exists()


def test_sent_after_commit(db, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        msg = outbox.queue("email", "resident@example.com", "正文", subject="主题")
        assert mail.outbox == []  # not while the transaction is open
    for callback in callbacks:
        callback()  # the commit: the task runs (eagerly in tests)
    msg.refresh_from_db()
    assert msg.status == "sent" and msg.attempts == 1 and len(mail.outbox) == 1


@override_settings(GRIDGOV_SMS_SENDER="tests.cases.test_outbox.FlakySms")
def test_failures_back_off_and_give_up(db) -> None:
    FlakySms.failures = 2
    msg = outbox.queue("sms", "13800138000", "短信")
    now = timezone.now()
    assert outbox.deliver(msg.pk, now=now) == "pending"
    msg.refresh_from_db()
    assert (
        msg.attempts == 1
        and msg.next_attempt_at == now + timedelta(minutes=1)
        and "gateway down" in msg.last_error
    )
    assert outbox.deliver_due(now=now) == 0  # not due yet
    assert outbox.deliver_due(now=now + timedelta(minutes=1)) == 1
    msg.refresh_from_db()
    assert msg.attempts == 2 and msg.next_attempt_at == now + timedelta(minutes=1) + timedelta(minutes=2)
    assert outbox.deliver(msg.pk, now=now + timedelta(minutes=3)) == "sent"
    FlakySms.failures = 100
    doomed = outbox.queue("sms", "13900139000", "短信")
    for _ in range(outbox.MAX_ATTEMPTS):
        outbox.deliver(doomed.pk)
    doomed.refresh_from_db()
    assert (
        doomed.status == "failed"
        and doomed.attempts == outbox.MAX_ATTEMPTS
        and doomed.next_attempt_at is None
    )
