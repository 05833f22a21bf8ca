"""The user's in-app notifications: newest first, unread count, mark as read."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from .models import Notification


class ReadIn(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    all = serializers.BooleanField(required=False, default=False)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def notifications(request: Request) -> Response:
    qs = Notification.objects.filter(user=request.user).select_related("case")
    if request.query_params.get("unread") in {"1", "true"}:
        qs = qs.filter(read_at__isnull=True)
    rows = [
        {
            "id": n.pk,
            "verb": n.verb,
            "text": n.text,
            "case": str(n.case.uuid) if n.case_id else None,
            "created_at": timezone.localtime(n.created_at).isoformat(),
            "read": n.read_at is not None,
        }
        for n in qs[:100]
    ]
    unread = Notification.objects.filter(user=request.user, read_at__isnull=True).count()
    return Response({"unread": unread, "results": rows})


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def notifications_read(request: Request) -> Response:
    s = ReadIn(data=request.data)
    s.is_valid(raise_exception=True)
    qs = Notification.objects.filter(user=request.user, read_at__isnull=True)
    if not s.validated_data["all"]:
        qs = qs.filter(pk__in=s.validated_data.get("ids") or [])
    return Response({"marked": qs.update(read_at=timezone.now())})
