"""API.md § Conventions, checked over HTTP against a live server.

(The Tax section is checked in test_tax.py; the Revenue section joins this suite when issue 17
lands.)"""

import re

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error

OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$")


@pytest.fixture
def sold(api):
    """A customer on a plan: one open invoice."""
    h.plan(api, "pro")
    h.customer(api, "acme")
    sub = h.subscribe(api, "acme", "pro", external_id="acme-main")
    return sub


# -- Auth ------------------------------------------------------------------------------


def test_no_key_is_401(anonymous):
    """ "Auth: `Authorization: Bearer <secret key>` … No key → 401"."""
    assert_error(anonymous.get("customers/"), 401, "authentication")
    assert_error(anonymous.post("customers/", {"external_id": "x"}), 401, "authentication")


def test_unknown_key_is_401(base):
    """ "Auth: `Authorization: Bearer <secret key>`": a key that is not ours authenticates no
    one."""
    stranger = h.Api(base, "sk_" + "x" * 43)
    assert_error(stranger.get("customers/"), 401, "authentication")


def test_wrong_scope_is_403(api, reader):
    """ "a key has scopes (`read`, `write`) … wrong scope → 403"."""
    h.customer(api, "acme")
    assert reader.ok("GET", "customers/acme/")["external_id"] == "acme"
    error = assert_error(reader.post("customers/", {"external_id": "b"}), 403, "permission")
    assert error["code"]
    assert api.ok("GET", "customers/", external_id="b")["results"] == []


def test_bearer_key_authenticates(api):
    """ "Auth: `Authorization: Bearer <secret key>`"."""
    assert api.ok("GET", "customers/") == {"results": [], "next_cursor": None}


# -- JSON, money, timestamps -------------------------------------------------------------


def test_money_is_a_string_beside_the_resource_currency(api, sold):
    """ "Money is a decimal **string** … inside a resource of one currency, a plain `"12.50"`
    beside the resource's `"currency"`"."""
    plan = api.ok("GET", "plans/pro/")
    assert (plan["amount"], plan["currency"]) == ("30.00", "USD")
    (invoice,) = h.invoices_of(api, "acme")
    assert invoice["currency"] == "USD"
    for key in ("subtotal", "discount", "tax", "total", "amount_paid", "amount_due"):
        assert isinstance(invoice[key], str), (key, invoice[key])
        assert re.fullmatch(r"-?\d+\.\d\d", invoice[key]), (key, invoice[key])
    assert invoice["total"] == "30.00"
    for line in invoice["lines"]:
        assert re.fullmatch(r"-?\d+\.\d\d", line["amount"]), line


def test_money_has_the_currency_minor_digits(api):
    """ "Money is a decimal **string**": with exactly the currency's minor digits (issue 13
    §1: JPY has none, USD two)."""
    jpy = h.plan(api, "yen", currency="JPY", amount="1000")
    assert jpy["amount"] == "1000"
    usd = h.plan(api, "usd", amount="12.5")
    assert usd["amount"] == "12.50"


def test_money_with_more_decimals_than_the_currency_is_400(api):
    """ "Money is a decimal **string** plus a currency code": a JPY amount of 10.5 does not
    exist and is refused wherever money enters (issue 13 §1)."""
    body = {"code": "yen", "name": "Yen", "currency": "JPY", "interval": "month", "amount": "10.5"}
    assert_error(api.post("plans/", body), 400, "invalid_request", "amount")
    cents = {**body, "code": "usd", "currency": "USD", "amount": "10.505"}
    assert_error(api.post("plans/", cents), 400, "invalid_request", "amount")
    addon = {"code": "a", "name": "A", "currency": "JPY", "amount": "1.5", "interval": "month"}
    assert_error(api.post("addons/", addon), 400, "invalid_request", "amount")
    assert api.ok("GET", "plans/")["results"] == []


def test_timestamps_are_answered_with_an_offset(api, sold):
    """ "Timestamps are ISO 8601 with offset"."""
    for key in ("current_period_start", "current_period_end", "created_at"):
        assert OFFSET.match(sold[key]), (key, sold[key])
    (invoice,) = h.invoices_of(api, "acme")
    for key in ("issued_at", "due_at", "period_start", "period_end"):
        assert OFFSET.match(invoice[key]), (key, invoice[key])


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("subscriptions/", "start_at", {"customer": "acme", "plan": "pro"}),
        ("billing-runs/", "as_of", {}),
        ("events/", "timestamp", {"transaction_id": "t1", "code": "calls"}),
    ],
)
def test_a_timestamp_without_offset_is_400(api, sold, path, field, body):
    """ "Timestamps are ISO 8601 with offset": one without is refused, never taken as UTC."""
    h.metric(api, "calls")
    if path == "events/":
        body = {**body, "subscription": sold["id"]}
    response = api.post(path, {**body, field: "2026-01-15T10:00:00"})
    assert_error(response, 400, "invalid_request", field)
    assert len(api.ok("GET", "subscriptions/")["results"]) == 1


def test_a_timestamp_without_offset_is_400_on_change_and_cancel(api, sold):
    """ "Timestamps are ISO 8601 with offset" — `at` of change and cancel too."""
    h.plan(api, "max", amount="90.00")
    url = f"subscriptions/{sold['id']}/"
    naive = "2026-01-15T10:00:00"
    change = api.post(f"{url}change/", {"plan": "max", "at": naive})
    assert_error(change, 400, "invalid_request", "at")
    cancel = api.post(f"{url}cancel/", {"when": "immediately", "at": naive})
    assert_error(cancel, 400, "invalid_request", "at")
    assert api.ok("GET", url)["status"] == "active"


# -- Addressing ----------------------------------------------------------------------------


def test_objects_are_addressed_by_id_or_by_their_own_code(api, sold):
    """ "`/customers/acme-42/` works as well as `/customers/17/`" (and the other objects with
    a client-made `external_id`/`code`)."""
    customer = api.ok("GET", "customers/acme/")
    assert api.ok("GET", f"customers/{customer['id']}/") == customer
    plan = api.ok("GET", "plans/pro/")
    assert api.ok("GET", f"plans/{plan['id']}/") == plan
    by_code = api.ok("GET", "subscriptions/acme-main/")
    assert by_code == api.ok("GET", f"subscriptions/{sold['id']}/")
    (invoice,) = h.invoices_of(api, "acme")
    assert api.ok("GET", f"invoices/{invoice['number']}/") == invoice
    assert api.ok("GET", f"invoices/{invoice['id']}/") == invoice
    h.metric(api, "calls")
    assert api.ok("GET", "metrics/calls/")["code"] == "calls"


@pytest.mark.parametrize("by", ["id", "code"])
def test_a_filter_that_names_an_object_takes_its_id_or_code(api, sold, by):
    """ "A filter that names an object (`?customer=`, `?subscription=`, `?invoice=`, `?plan=`)
    takes its `id` or its `external_id`/`code`/`number`, like a path does"."""
    h.customer(api, "other")
    h.plan(api, "basic", amount="10.00")
    h.subscribe(api, "other", "basic")  # noise the filters must leave out
    (invoice,) = h.invoices_of(api, "acme")
    method = h.card(api, "acme", default=False)  # no automatic collection racing this payment
    body = {"invoice": invoice["number"], "payment_method": method["id"]}
    payment = api.ok("POST", "payments/", body, 201)
    h.metric(api, "calls")
    api.ok(
        "POST",
        "usage-alerts/",
        {"subscription": "acme-main", "metric": "calls", "threshold": "10"},
        201,
    )
    if by == "id":
        ref = {
            "customer": api.ok("GET", "customers/acme/")["id"],
            "plan": api.ok("GET", "plans/pro/")["id"],
            "subscription": sold["id"],
            "invoice": invoice["id"],
        }
    else:
        ref = {
            "customer": "acme",
            "plan": "pro",
            "subscription": "acme-main",
            "invoice": invoice["number"],
        }
    subs = api.ok("GET", "subscriptions/", customer=ref["customer"])["results"]
    assert [s["id"] for s in subs] == [sold["id"]]
    subs = api.ok("GET", "subscriptions/", plan=ref["plan"])["results"]
    assert [s["id"] for s in subs] == [sold["id"]]
    invoices = api.ok("GET", "invoices/", customer=ref["customer"])["results"]
    assert [i["id"] for i in invoices] == [invoice["id"]]
    alerts = api.ok("GET", "usage-alerts/", subscription=ref["subscription"])["results"]
    assert [a["subscription"] for a in alerts] == [sold["id"]]
    payments = api.ok("GET", "payments/", invoice=ref["invoice"])["results"]
    assert [p["id"] for p in payments] == [payment["id"]]
    payments = api.ok("GET", "payments/", customer=ref["customer"])["results"]
    assert [p["id"] for p in payments] == [payment["id"]]
    orders = api.ok("GET", "orders/", customer=ref["customer"])["results"]
    assert {o["customer"] for o in orders} <= {"acme"}


# -- Idempotency ----------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_answer_and_does_nothing_new(api):
    """ "`Idempotency-Key` header on any POST: the same key with the same body returns the
    first response again (and does nothing new)"."""
    body = {"external_id": "acme", "name": "Acme", "email": "a@example.com", "currency": "USD"}
    first = api.post("customers/", body, **{"Idempotency-Key": "k-1"})
    again = api.post("customers/", body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert len(api.ok("GET", "customers/")["results"]) == 1


def test_idempotency_key_with_a_different_body_is_409(api):
    """ "with a different body → 409"."""
    body = {"external_id": "acme", "name": "Acme", "email": "a@example.com", "currency": "USD"}
    assert api.post("customers/", body, **{"Idempotency-Key": "k-2"}).status_code == 201
    other = api.post("customers/", {**body, "name": "Other"}, **{"Idempotency-Key": "k-2"})
    assert_error(other, 409, "conflict")
    assert api.ok("GET", "customers/acme/")["name"] == "Acme"


# -- Errors ---------------------------------------------------------------------------------


def test_invalid_request_is_400_naming_the_field(api):
    """ "Errors: `{"error": {"type": "invalid_request|…", "code", "message", "field"}}` with
    400"."""
    body = {"external_id": "acme", "name": "Acme", "email": "not-an-email", "currency": "USD"}
    error = assert_error(api.post("customers/", body), 400, "invalid_request", "email")
    assert error["code"] == "invalid"
    unknown = api.post("customers/", {**body, "email": "a@example.com", "colour": "blue"})
    assert_error(unknown, 400, "invalid_request", "colour")


def test_not_found_is_404(api):
    """ "Errors: … `not_found` … 404"."""
    assert_error(api.get("customers/nobody/"), 404, "not_found")
    assert_error(api.get("invoices/999999/"), 404, "not_found")
    assert_error(api.post("subscriptions/ghost/cancel/", {}), 404, "not_found")


def test_a_transition_not_allowed_is_422(api, sold):
    """ "422 (a transition not allowed from the current state)"."""
    url = f"subscriptions/{sold['id']}/"
    api.ok("POST", f"{url}cancel/", {"when": "immediately"})
    assert_error(api.post(f"{url}pause/", {}), 422, "state")
    (invoice,) = h.invoices_of(api, "acme", status="open")
    api.ok("POST", f"invoices/{invoice['id']}/void/")
    assert_error(api.post(f"invoices/{invoice['id']}/mark-paid/"), 422, "state")


# -- Lists --------------------------------------------------------------------------------


def test_lists_page_with_limit_and_cursor(api):
    """ "Lists: `?limit=&cursor=` → `{"results": [...], "next_cursor": ...}`"."""
    for n in range(5):
        h.customer(api, f"c{n}")
    first = api.ok("GET", "customers/", limit=2)
    assert set(first) == {"results", "next_cursor"}
    assert len(first["results"]) == 2
    assert first["next_cursor"]
    seen = [c["external_id"] for c in first["results"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.ok("GET", "customers/", limit=2, cursor=cursor)
        assert len(page["results"]) <= 2
        seen += [c["external_id"] for c in page["results"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == [f"c{n}" for n in range(5)]


def test_lists_filter_by_query_parameters(api, sold):
    """ "filters as query parameters"."""
    assert len(api.ok("GET", "invoices/", status="open")["results"]) == 1
    assert api.ok("GET", "invoices/", status="paid")["results"] == []
