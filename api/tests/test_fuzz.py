"""Fuzz every endpoint from the served OpenAPI schema: no 500s, and every answer (2xx and
4xx alike) conforms to the schema, with no key it does not declare."""

import io
from urllib.parse import urlsplit

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from api.schema import ERROR_TYPES
from api.tests.schema_check import assert_declared, assert_error_body
from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def seeded(db):
    """Something to find, so lookups and PATCHes reach past 404.

    Requests go straight to the WSGI app, so keep Django from closing the test's
    connection at the end of each request (its test client does the same).
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    call_command("seed_demo", stdout=io.StringIO())
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_answers_as_declared(case, api_key, seeded):
    response = case.call(headers={"Authorization": f"Bearer {api_key.raw}"})
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] in ERROR_TYPES, error
        assert error["code"]
        assert error["message"]
    if response.headers.get("content-type", [""])[0].startswith("application/json"):
        if case.method.lower() != case.operation.method.lower():  # TRACE: 405, OPTIONS: 200
            if response.status_code >= 400:
                assert_error_body(response.json())
        else:
            path = urlsplit(response.request.url).path
            assert_declared(case.method, path, response.status_code, response.json())
