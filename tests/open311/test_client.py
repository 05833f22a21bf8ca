"""The GET side through the `georeport` PyPI client against a live server (JSON and XML)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from georeport import GeoReport

from gridgov.cases.models import CaseEvent

from .conftest import REPORTER

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root(live_server, monkeypatch) -> str:
    # The server's request threads close their database connection after each request, so none is
    # left open when the test database is dropped.
    from django.db import connections

    monkeypatch.setitem(connections["default"].settings_dict, "CONN_MAX_AGE", 0)
    return f"{live_server.url}/open311/v2"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_are_the_leaf_categories_with_their_group(root, published, fmt) -> None:
    listed = GeoReport(root, output_format=fmt).get_service_list()
    codes = [s["service_code"] for s in listed]
    assert "env-garbage" in codes and "hazard-gas" in codes
    assert "environment" not in codes and "hazard" not in codes  # groups are not services
    assert "dispute-neighbour" in codes  # residents may report sensitive matters
    garbage = next(s for s in listed if s["service_code"] == "env-garbage")
    assert garbage["service_name"] == "Rubbish dumped"
    assert garbage["group"] == "Environment and sanitation"
    assert garbage["type"] == "realtime"
    assert garbage["metadata"] in (False, "false")
    assert "垃圾堆放" in garbage["keywords"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_service_definition_and_an_unknown_one(root, published, fmt) -> None:
    client = GeoReport(root, output_format=fmt)
    definition = client.get_service_definition("env-noise")
    assert definition["service_code"] == "env-noise"
    assert not definition["attributes"]
    with pytest.raises(requests.HTTPError) as err:
        client.get_service_definition("no-such")
    assert err.value.response.status_code == 404
    if fmt == "json":
        assert err.value.response.json() == [
            {"code": 404, "description": "service_code: There is no service with this code."}
        ]
    else:
        assert b"<errors><error><code>404</code>" in err.value.response.content


def test_requests_list_newest_first_with_the_spec_fields(root, published) -> None:
    rows = GeoReport(root).get_service_requests()
    ids = [r["service_request_id"] for r in rows]
    p = published
    assert ids == [p.garbage.reference, p.sewage.reference, p.noise.reference]  # not sensitive, not old
    garbage, sewage, noise = rows
    assert garbage["status"] == "open" and noise["status"] == "closed"
    assert garbage["status_notes"] == "已安排清运"
    assert noise["status_notes"] == "现场核实已无噪声"
    assert garbage["service_code"] == "env-garbage" and garbage["service_name"] == "Rubbish dumped"
    department = p.sewage.lead_department
    assert sewage["agency_responsible"] == (department.name_en or department.name) != ""
    assert garbage["agency_responsible"] == ""
    assert garbage["expected_datetime"] == timezone.localtime(p.garbage.deadline).isoformat(
        timespec="seconds"
    )
    assert noise["expected_datetime"] is None
    assert garbage["requested_datetime"].endswith("+08:00")
    assert garbage["address"] == "A栋"
    assert garbage["lat"] == pytest.approx(p.garbage.location.y) and garbage["long"] == pytest.approx(
        p.garbage.location.x
    )
    assert garbage["media_url"].startswith(root + "/media/")
    photo = requests.get(garbage["media_url"], timeout=10)  # published: anyone may fetch it
    assert photo.status_code == 200 and photo.headers["Content-Type"].startswith("image/")
    assert noise["media_url"] == ""
    assert garbage["description"].startswith("楼下垃圾堆放 <多日> & ") and "***" in garbage["description"]
    assert garbage["service_notice"] == p.garbage.state.public_name


def test_requests_in_xml_parse_the_same(root, published) -> None:
    rows = GeoReport(root, output_format="xml").get_service_requests(status="open")
    assert [r["service_request_id"] for r in rows] == [
        published.garbage.reference,
        published.sewage.reference,
    ]
    assert rows[0]["description"].startswith("楼下垃圾堆放 <多日> & ")
    assert float(rows[0]["lat"]) == pytest.approx(published.garbage.location.y)
    assert rows[0]["expected_datetime"]


def test_filters_status_code_ids_and_dates(root, published) -> None:
    client = GeoReport(root)
    p = published
    assert [r["service_request_id"] for r in client.get_service_requests(status="closed")] == [
        p.noise.reference
    ]
    by_code = client.get_service_requests(service_code="env-noise,env-sewage")
    assert {r["service_request_id"] for r in by_code} == {p.noise.reference, p.sewage.reference}
    # Ids override the other filters, the default 90 days too; sensitive ones are never returned.
    ids = ",".join(c.reference for c in (p.old, p.noise, p.dispute))
    assert {
        r["service_request_id"] for r in client.get_service_requests(service_request_id=ids, status="open")
    } == {
        p.old.reference,
        p.noise.reference,
    }
    start = (timezone.now() - timedelta(days=121)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (timezone.now() - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [r["service_request_id"] for r in client.get_service_requests(start_date=start, end_date=end)] == [
        p.old.reference
    ]
    assert client.get_service_requests(service_code="dispute-neighbour") == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_single_request_and_a_sensitive_one(root, published, fmt) -> None:
    client = GeoReport(root, output_format=fmt)
    row = client.get_service_request(published.noise.reference)
    assert row["service_request_id"] == published.noise.reference and row["status"] == "closed"
    for hidden in (published.dispute.reference, "20200101-999999", "not-an-id"):
        with pytest.raises(requests.HTTPError) as err:
            client.get_service_request(hidden)
        assert err.value.response.status_code == 404


def test_sensitive_requests_and_reporters_never_appear_in_any_answer(root, published) -> None:
    p = published
    # The reporter named in a public note of a public issue (the sensitive one has a public note too).
    CaseEvent.objects.create(
        case=p.garbage, at=timezone.now(), action="note", public=True, comment="已联系张三丰"
    )
    paths = ["discovery.json", "discovery.xml", "services.json", "services.xml"]
    for fmt in ("json", "xml"):
        paths += [
            f"requests.{fmt}",
            f"requests.{fmt}?status=open,closed",
            f"requests.{fmt}?service_code=dispute-neighbour,env-garbage",
            f"requests.{fmt}?service_request_id={p.dispute.reference},{p.garbage.reference}",
            f"requests/{p.garbage.reference}.{fmt}",
            f"requests/{p.dispute.reference}.{fmt}",
            f"tokens/{p.garbage.token}.{fmt}",
        ]
    secrets = [
        *REPORTER.values(),
        "1234-5678",
        p.dispute.reference,
        "邻居噪音纠纷",
        "调解中",
        "dispute-neighbour",
    ]
    for path in paths:
        response = requests.get(f"{root}/{path}", timeout=10)
        assert response.status_code in (200, 404), path
        body = response.content.decode("utf-8")
        leaked = [s for s in secrets if s in body and not (s == "dispute-neighbour" and "services" in path)]
        assert not leaked, (path, leaked)
    notes = GeoReport(root).get_service_request(p.garbage.reference)["status_notes"]
    assert notes == "已联系***"


def test_discovery_names_the_endpoint_and_formats(root, published) -> None:
    for path in ("discovery.json", ""):
        response = requests.get(f"{root}/{path}", timeout=10)
        assert response.status_code == 200
    document = requests.get(f"{root}/discovery.json", timeout=10).json()
    (endpoint,) = document["endpoints"]
    assert endpoint["url"] == f"{root}/"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    assert requests.get(f"{root}/", timeout=10).content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
