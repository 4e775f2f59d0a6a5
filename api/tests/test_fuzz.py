"""Fuzz every endpoint from the OpenAPI schema: no 500s, and every error has the contract body."""

import io

import pytest
import schemathesis
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application

ERROR_TYPES = {
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "conflict",
    "state",
    "rate_limit",
    "gateway",
}

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
def test_api_never_fails_and_errors_follow_the_contract(case, api_key, seeded):
    response = case.call(headers={"Authorization": f"Bearer {api_key.raw}"})
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["type"] in ERROR_TYPES, error
        assert error["code"]
        assert error["message"]
    elif response.status_code < 300:
        case.validate_response(response, checks=[response_schema_conformance])
