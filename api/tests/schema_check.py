"""Strict check of an API answer against the served schema: every key answered is declared.

`assert_declared(method, path, status, body)` validates a JSON body against the response the
served schema declares for that operation and status, with every object treated as
`additionalProperties: false` (unless the schema itself allows extra keys, as for free-form
`metadata`), `nullable` honoured, and `required` enforced. Use it from any API test:

    response = api.get("/api/v1/invoices/7/")
    assert_declared("GET", "/api/v1/invoices/7/", response.status_code, response.json())

or make every call of a test strict with `StrictAPIClient` (an APIClient).
"""

import json
import re
from functools import cache

from django.test import RequestFactory
from django.urls import resolve
from jsonschema import Draft202012Validator
from rest_framework.test import APIClient

SCHEMA_URL = "/api/schema/"
OPERATIONS = ("get", "post", "put", "patch", "delete")


@cache
def served_schema() -> dict:
    """The schema as `/api/schema/` serves it (called directly: no request signals)."""
    request = RequestFactory().get(SCHEMA_URL, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    response = resolve(SCHEMA_URL, urlconf="config.urls").func(request)
    response.render()
    assert response.status_code == 200, response.status_code
    return json.loads(response.content)


def strict(node):
    """OpenAPI 3.0 schema → JSON Schema with closed objects and `nullable` as a null type."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: strict(value) for key, value in node.items()}
    if "$ref" in node:
        node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        if "type" in node and "enum" not in node:
            node["type"] = [node["type"], "null"]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@cache
def _operations() -> list[tuple[re.Pattern, str, dict]]:
    found = []
    for template, item in served_schema()["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        for method in OPERATIONS:
            if method in item:
                found.append((re.compile(f"^{pattern}$"), method, item[method]))
    # Literal paths first: /events/batch/ before /events/{transaction_id}/.
    return sorted(found, key=lambda row: row[0].pattern.count("[^/]+"))


def find_operation(method: str, path: str) -> dict | None:
    path = path.split("?")[0]
    for pattern, op_method, operation in _operations():
        if op_method == method.lower() and pattern.match(path):
            return operation
    return None


def operation_for(method: str, path: str) -> dict:
    operation = find_operation(method, path)
    assert operation is not None, f"{method} {path}: no such operation in the served schema"
    return operation


@cache
def _defs() -> dict:
    return strict(served_schema()["components"]["schemas"])


def declared_errors(method: str, path: str, status: int, body) -> list[str]:
    """What is wrong with `body` as the answer `status` to `method path` (empty: nothing)."""
    operation = operation_for(method, path)
    response = operation["responses"].get(str(status)) or operation["responses"].get("default")
    if response is None:
        return [f"{method} {path}: status {status} is not declared"]
    content = response.get("content", {})
    media = content.get("application/json")
    if media is None:
        return [] if body is None else [f"{method} {path} {status}: no JSON body declared"]
    schema = {**strict(media["schema"]), "$defs": _defs()}
    validator = Draft202012Validator(schema)
    return [
        f"{method} {path} {status}: {'.'.join(map(str, error.absolute_path)) or '<body>'}: "
        f"{error.message}"
        for error in validator.iter_errors(body)
    ]


def assert_error_body(body) -> None:
    """`body` is the `Error` component, strictly (for answers outside any operation: 405…)."""
    validator = Draft202012Validator({"$ref": "#/$defs/Error", "$defs": _defs()})
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, "\n".join(errors)


def assert_declared(method: str, path: str, status: int, body) -> None:
    errors = declared_errors(method, path, status, body)
    assert not errors, "\n".join(errors[:20])


class StrictAPIClient(APIClient):
    """An APIClient whose every JSON answer must be as the served schema declares (answers
    outside any operation, such as an unknown URL's 404, must be the `Error` component)."""

    def request(self, **kwargs):
        response = super().request(**kwargs)
        path = kwargs["PATH_INFO"]
        method = kwargs["REQUEST_METHOD"]
        if not response.get("Content-Type", "").startswith("application/json"):
            return response
        if response.status_code >= 500:
            assert_error_body(response.json())  # never declared, still the error format
        elif find_operation(method, path) is not None:
            assert_declared(method, path, response.status_code, response.json())
        elif path.startswith("/api/") and response.status_code >= 400:
            assert_error_body(response.json())  # an unknown URL, a method not offered
        return response
