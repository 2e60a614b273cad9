"""The OpenAPI document of a real node, and schemathesis against a real node process:
no 5xx, and every answer (status, content type, body, headers) matches the document."""

from __future__ import annotations

import json
import re
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from nodeproc import node_process
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from fieldkit.views.openapi import ROUTES, document

STREAM = "/api/events/stream"
"""Never ends (Server-Sent Events): documented, not fuzzed."""


PARTS = """
[hardware]
health = true

[[drones.links]]
name = "sim"
port = 0

[sensors]
enabled = true
mqtt = {enabled = false}

[[sensors.zones]]
name = "gate"
area_m2 = 400
exit_width_m = 4

[[sensors.sensors]]
id = "gate-count"
kind = "people_count"
zone = "gate"
"""
"""What turns on the parts a default config leaves off (a drone link, health watch, city
sensors without a broker), so that every documented route is served and fuzzed."""


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `fieldkit node run` process with every part on."""
    from fieldkit.nodedir import init_node_dir

    node_dir = tmp_path_factory.mktemp("views") / "T01"
    init_node_dir(node_dir, role="truck", name="T01")
    with (node_dir / "fieldkit.toml").open("a") as config:
        config.write(PARTS)
    with node_process(node_dir) as node:
        yield node.url
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def token(node_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = next(Path(tmp_path_factory.getbasetemp()).glob("views*/T01/api.token"))
    return path.read_text().strip()


@pytest.fixture(scope="module")
def api_schema(node_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{node_url}/api/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@schema.exclude(path=STREAM).parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
def test_every_answer_matches_the_document(case: schemathesis.Case, token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},  # /api/live always needs it
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance, response_headers_conformance])


@pytest.mark.slow
def test_the_document_lists_what_the_node_serves(node_url: str) -> None:
    with urllib.request.urlopen(f"{node_url}/api/openapi.json", timeout=10) as response:
        served = json.load(response)
    assert served["openapi"] == "3.1.0"
    assert STREAM in served["paths"]
    assert served["paths"]["/api/health"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/HealthView"}
    documented = {(m.upper(), p) for p, ops in served["paths"].items() for m in ops}
    assert documented == {(r.method, r.path) for r in ROUTES}, "every part runs"


def test_every_reference_resolves() -> None:
    doc = document(ROUTES)
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs, "responses refer to their models"
    assert refs <= set(doc["components"]["schemas"])


def test_only_served_routes_are_documented() -> None:
    from aiohttp import web

    from fieldkit.views.openapi import openapi_json, served

    app = web.Application()
    app.router.add_get("/api/openapi.json", openapi_json)
    assert [r.path for r in served(app)] == ["/api/openapi.json"]


def test_every_api_route_of_a_node_has_a_row(config):
    """A route added without a row in ROUTES would be neither documented nor fuzzed."""
    from fieldkit.api import create_app
    from fieldkit.parts import installed_parts
    from fieldkit.views.openapi import served

    every_part = [p.installer() for p in installed_parts() if p.install is not None]
    app = create_app(config, every_part)
    api = {(r.method, r.resource.canonical) for r in app.router.routes()
           if r.resource is not None and r.resource.canonical.startswith("/api/")
           and r.method != "HEAD"}
    assert api == {(r.method, r.path) for r in served(app)}
