"""What an integrator would write: a small HTTP client and the calls of an ordinary flow."""

import time
import uuid

import requests
from jsonschema import Draft202012Validator

from api.tests.schema_check import strict


class Api:
    """A minimal HTTP client of /api/v1/ (what an integrator would write with `requests`)."""

    def __init__(self, base: str, key: str | None):
        self.base = base
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base}/api/v1/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=60, **kwargs)

    def get(self, path: str, **params) -> requests.Response:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body=None, **headers) -> requests.Response:
        return self.request("POST", path, json=body if body is not None else {}, headers=headers)

    def patch(self, path: str, body) -> requests.Response:
        return self.request("PATCH", path, json=body)

    def ok(self, method: str, path: str, body=None, expect: int = 200, **params) -> dict:
        """The JSON answer of a call that must answer `expect`."""
        if method == "GET":
            response = self.get(path, **params)
        else:
            response = self.request(method, path, json=body if body is not None else {})
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json()


def wait_for(check, timeout: float = 30.0, what: str = "the condition"):
    """Poll `check()` until it answers something truthy; that answer."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout} s waiting for {what}")
        time.sleep(0.25)


def uid(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def metric(api: Api, code: str, aggregation: str = "count", field: str | None = None) -> dict:
    body = {"code": code, "name": code.title(), "aggregation": aggregation}
    if field:
        body["field"] = field
    return api.ok("POST", "metrics/", body, 201)


def feature(api: Api, code: str, kind: str = "boolean", metric_code: str | None = None) -> dict:
    body = {"code": code, "name": code.title(), "kind": kind}
    if metric_code:
        body["metric"] = metric_code
    return api.ok("POST", "features/", body, 201)


def plan(api: Api, code: str, **overrides) -> dict:
    body = {
        "code": code,
        "name": code.title(),
        "currency": "USD",
        "interval": "month",
        "interval_count": 1,
        "amount": "30.00",
        "pay_in_advance": True,
        "trial_days": 0,
        "charges": [],
        "entitlements": [],
        **overrides,
    }
    return api.ok("POST", "plans/", body, 201)


def customer(api: Api, external_id: str, **overrides) -> dict:
    body = {
        "external_id": external_id,
        "name": f"Customer {external_id}",
        "email": f"{external_id}@example.com",
        "currency": "USD",
        "timezone": "UTC",
        "country": "US",
        **overrides,
    }
    return api.ok("POST", "customers/", body, 201)


def card(api: Api, customer_ref: str, token: str = "tok_visa", default: bool = True) -> dict:  # noqa: S107
    body = {"gateway": "sandbox", "token": token, "default": default}
    return api.ok("POST", f"customers/{customer_ref}/payment-methods/", body, 201)


def subscribe(api: Api, customer_ref: str, plan_code: str, **body) -> dict:
    return api.ok(
        "POST", "subscriptions/", {"customer": customer_ref, "plan": plan_code, **body}, 201
    )


def event(api: Api, subscription, code: str, timestamp: str, expect: int = 201, **props):
    body = {
        "transaction_id": uid("tx"),
        "subscription": subscription,
        "code": code,
        "timestamp": timestamp,
        "properties": props,
    }
    return api.ok("POST", "events/", body, expect)


def invoices_of(api: Api, customer_ref: str, **params) -> list[dict]:
    return api.ok("GET", "invoices/", customer=customer_ref, **params)["results"]


def iso(moment) -> str:
    return moment.isoformat()


def batch(api: Api, subscription, items: list[tuple[str, str, dict]]) -> dict:
    """POST /events/batch/ of (code, timestamp, properties) events, all of which must pass."""
    events = [
        {
            "transaction_id": uid("tx"),
            "subscription": subscription,
            "code": code,
            "timestamp": timestamp,
            "properties": props,
        }
        for code, timestamp, props in items
    ]
    body = api.ok("POST", "events/batch/", {"events": events})
    assert body["rejected"] == 0, body
    return body


FINISHED = {"completed", "completed_with_failures", "failed", "abandoned"}


def bill_run(api: Api, as_of: str, timeout: float = 60.0) -> dict:
    """`POST /billing-runs/` (202, queued), then `GET /billing-runs/{id}/` until it is done."""
    run = api.ok("POST", "billing-runs/", {"as_of": as_of}, 202)
    assert run["status"] in {"queued", "running", *FINISHED}, run
    return wait_for(
        lambda: (r := api.ok("GET", f"billing-runs/{run['id']}/"))["status"] in FINISHED and r,
        timeout,
        f"billing run {run['id']}",
    )


def line_of(invoice: dict, starts_with: str) -> dict:
    (line,) = [ln for ln in invoice["lines"] if ln["description"].startswith(starts_with)]
    return line


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


def assert_error(response, status: int, type_: str, field: str | None = None) -> dict:
    """The one error body: {"error": {type, code, message, field}}."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"type", "code", "message"} <= set(error), error
    assert error["type"] == type_, error
    assert error["type"] in ERROR_TYPES, error
    assert error["code"], error
    assert error["message"], error
    if field is not None:
        assert error["field"] == field, error
    return error


_SCHEMAS: dict[str, dict] = {}


def served_schema(base: str) -> dict:
    if base not in _SCHEMAS:
        response = requests.get(
            f"{base}/api/schema/",
            headers={"Accept": "application/vnd.oai.openapi+json"},
            timeout=60,
        )
        assert response.status_code == 200, response.text[:500]
        _SCHEMAS[base] = response.json()
    return _SCHEMAS[base]


def declared(api: Api, method: str, template: str, status: int, body) -> None:
    """`body` is what the served schema declares for `method /api/v1/<template>` answering
    `status`: strictly (no undeclared key; null only where nullable)."""
    schema = served_schema(api.base)
    operation = schema["paths"][f"/api/v1/{template}"][method.lower()]
    response = operation["responses"][str(status)]
    media = response.get("content", {}).get("application/json")
    if media is None:
        assert body is None, (method, template, status, body)
        return
    validator = Draft202012Validator(
        {**strict(media["schema"]), "$defs": strict(schema["components"]["schemas"])}
    )
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
        for e in validator.iter_errors(body)
    ]
    assert not errors, (method, template, status, errors[:10])
