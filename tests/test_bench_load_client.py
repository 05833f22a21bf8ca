"""The load benchmark's lean HTTP client (bench/visits_load.py --http): it speaks HTTP/1.1 correctly and
counts only the visits the server says it created, item by item."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def load():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("visits_load_under_test", BENCH / "visits_load.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def answer(ids: list[str], statuses: list[str], **kw) -> bytes:
    results = [
        {"index": i, "id": vid, "status": s} for i, (vid, s) in enumerate(zip(ids, statuses, strict=True))
    ]
    body = {
        "received": len(ids),
        "created": statuses.count("created"),
        "exists": statuses.count("exists"),
        "errors": statuses.count("error"),
        "results": results,
    }
    return json.dumps(body | kw).encode()


def test_only_the_items_answered_created_count(load):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    phone = load.Phone(b"", ids)
    assert load.check(phone, 200, answer(ids, ["created", "exists", "created"])) == (2, 1)
    assert load.check(phone, 200, answer(ids, ["error", "error", "error"])) == (0, 3)
    with pytest.raises(RuntimeError, match="HTTP 500"):
        load.check(phone, 500, b"oops")
    with pytest.raises(RuntimeError, match="not the visit sent"):
        load.check(phone, 200, answer([ids[1], ids[0], ids[2]], ["created"] * 3))
    with pytest.raises(RuntimeError, match="count"):
        load.check(phone, 200, answer(ids, ["created"] * 3, created=2))
    with pytest.raises(RuntimeError, match="3 visits sent"):
        load.check(phone, 200, answer(ids[:2], ["created"] * 2))


def serve(replies: list[bytes | None]) -> tuple[int, list[bytes], threading.Thread]:
    """A server answering each request it reads with the next reply (None: close without answering; a reply
    ending with `Connection: close` headers closes after it)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port, seen = listener.getsockname()[1], []

    def run() -> None:
        with listener:
            pending = list(replies)
            while pending:
                conn, _addr = listener.accept()
                with conn:
                    while pending:
                        data = b""
                        while b"\r\n\r\n" not in data:
                            data += conn.recv(65536)
                        head, _sep, body = data.partition(b"\r\n\r\n")
                        length = int(
                            next(
                                h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")
                            ).split(b":")[1]
                        )
                        while len(body) < length:
                            body += conn.recv(65536)
                        seen.append(head + b"\r\n\r\n" + body)
                        reply = pending.pop(0)
                        if reply is None:
                            break
                        conn.sendall(reply)
                        if b"Connection: close" in reply:
                            break

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, seen, thread


def reply(body: bytes, *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def test_keep_alive_close_and_a_closed_idle_connection(load):
    big = json.dumps({"x": "y" * 200_000}).encode()  # more than one recv
    port, seen, thread = serve(
        [reply(b'{"a":1}'), reply(big), reply(b"{}", "Connection: close"), None, reply(b"[]")]
    )
    conn = load.Connection(port)
    request = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}"
    assert conn.post(request) == (200, b'{"a":1}')
    assert conn.post(request) == (200, big)
    assert conn.post(request) == (200, b"{}") and conn.sock is None  # the server said it closes
    # A new connection, closed by the server before answering: sent again once on another one.
    assert conn.post(request) == (200, b"[]")
    thread.join(5)
    assert len(seen) == 5 and all(s == request for s in seen)


@pytest.mark.django_db(transaction=True)
def test_a_phone_request_is_a_logged_in_browsers_post(load, world, live_server):
    from gridgov.visits.models import Visit

    c = Client()
    c.force_login(world.users["member_a"])
    session = c.cookies[settings.SESSION_COOKIE_NAME].value
    port = int(live_server.url.rsplit(":", 1)[1])
    vid = str(uuid.uuid4())
    item = {
        "id": vid,
        "household": "HA1",
        "channel": "in_person",
        "lon": world.household_a.point.x,
        "lat": world.household_a.point.y,
        "accuracy": 10,
        "device_time": (timezone.now() - timedelta(hours=1)).isoformat(),
    }
    body = json.dumps({"visits": [item]}).encode()
    phone = load.Phone(load.phone_request(port, session, "c" * 32, body), [vid])
    conn = load.Connection(port)
    assert load.check(phone, *conn.post(phone.request)) == (1, 0)
    assert load.check(phone, *conn.post(phone.request)) == (0, 1)  # the same batch again: exists
    assert Visit.objects.filter(pk=vid).count() == 1
    forged = load.Phone(
        load.phone_request(port, session, "c" * 32, body).replace(b"X-CSRFToken: c", b"X-CSRFToken: d"), [vid]
    )
    status, answer = conn.post(forged.request)
    assert status == 403 and b"CSRF Failed" in answer
