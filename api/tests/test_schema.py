"""The served schema tells an integrator what it needs: summaries and descriptions written for
a reader, one error component for every 4xx, the Idempotency-Key header, closed inputs."""

import pytest
from django.urls import get_resolver

from api.serializers import StrictSerializer
from api.tests.schema_check import StrictAPIClient, declared_errors, served_schema

OPERATIONS = ("get", "post", "put", "patch", "delete")
ERROR_REF = "#/components/schemas/Error"
LEAKS = ("output_serializer_class", "`list` and `retrieve`", "service call", "selector")


def operations():
    for path, item in served_schema()["paths"].items():
        for method in OPERATIONS:
            if method in item:
                yield method.upper(), path, item[method]


def error_ref(operation, code):
    content = operation["responses"][code]["content"]["application/json"]
    return content["schema"]["$ref"]


@pytest.mark.django_db
def test_every_operation_has_a_summary_and_a_description_for_a_reader():
    found = list(operations())
    assert len(found) > 100
    for method, path, operation in found:
        where = f"{method} {path}"
        assert operation.get("summary"), where
        assert len(operation["summary"]) <= 60, where
        description = operation.get("description", "")
        assert len(description) >= 20, where
        assert not any(leak in description for leak in LEAKS), (where, description)


@pytest.mark.django_db
def test_every_operation_declares_its_error_answers_with_the_error_component():
    for method, path, operation in operations():
        if method == "DELETE":  # no body and no query: nothing to be invalid or in conflict
            expected = {"401", "403", "404", "429"}
            assert not {"400", "409", "413", "415", "422"} & set(operation["responses"]), path
        else:
            expected = {"400", "401", "403", "429"}
        if "{" in path:
            expected.add("404")
        if method in ("POST", "PATCH"):
            expected |= {"404", "409", "413", "415", "422"}
        assert expected <= set(operation["responses"]), f"{method} {path}"
        for code in expected:
            assert error_ref(operation, code) == ERROR_REF, (method, path, code)


@pytest.mark.django_db
def test_the_error_component_matches_what_the_api_answers(api):
    response = api.get("/api/v1/customers/nobody/")
    assert response.status_code == 404
    assert declared_errors("GET", "/api/v1/customers/nobody/", 404, response.json()) == []
    response = api.post("/api/v1/customers/", {"external_id": "x", "nope": 1}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["errors"]
    assert declared_errors("POST", "/api/v1/customers/", 400, body) == []
    body["error"]["extra"] = "undeclared"
    assert declared_errors("POST", "/api/v1/customers/", 400, body)


@pytest.mark.django_db
def test_every_post_declares_the_idempotency_key_header():
    for method, path, operation in operations():
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert ("Idempotency-Key" in headers) == (method == "POST"), f"{method} {path}"


def _strict_inputs():
    """Names of request components made from StrictSerializer subclasses."""
    names = set()
    stack = list(StrictSerializer.__subclasses__())
    while stack:
        cls = stack.pop()
        stack += cls.__subclasses__()
        name = cls.__name__.removesuffix("Serializer")
        names |= {f"{name}Request", f"Patched{name}Request"}
    return names


@pytest.mark.django_db
def test_inputs_that_refuse_unknown_fields_say_so():
    get_resolver().url_patterns  # noqa: B018 - every view module imported
    components = served_schema()["components"]["schemas"]
    strict = _strict_inputs() & set(components)
    assert len(strict) > 20
    for name in strict:
        assert components[name].get("additionalProperties") is False, name


@pytest.mark.django_db
def test_answers_declared_nullable_where_they_may_be_null():
    components = served_schema()["components"]["schemas"]
    upcoming = components["UpcomingInvoiceOutput"]["properties"]
    assert upcoming["id"]["nullable"]
    assert upcoming["created_at"]["nullable"]
    assert components["BankTransferOutput"]["properties"]["customer"]["nullable"]
    entitlements = served_schema()["paths"]["/api/v1/customers/{customer}/entitlements/"]
    schema = entitlements["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/CustomerEntitlementsOutput"}


@pytest.mark.django_db
def test_the_strict_client_checks_every_answer(api_key, monkeypatch):
    client = StrictAPIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key.raw}")
    response = client.post(
        "/api/v1/customers/",
        {"external_id": "acme", "name": "Acme", "email": "a@acme.test", "currency": "USD"},
        format="json",
    )
    assert response.status_code == 201
    assert client.get("/api/v1/customers/acme/").status_code == 200
    monkeypatch.setattr(
        "customers.api.serializers.CustomerOutputSerializer.to_representation",
        lambda self, obj: {"undeclared": 1},
    )
    with pytest.raises(AssertionError, match="undeclared"):
        client.get("/api/v1/customers/acme/")
