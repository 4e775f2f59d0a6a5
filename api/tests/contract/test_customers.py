"""API.md § Customers over HTTP."""

from datetime import datetime, timedelta

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error

ADDRESS = {
    "line1": "1 Main St",
    "line2": "Suite 2",
    "city": "Springfield",
    "postal_code": "12345",
    "state": "IL",
    "country": "US",
}


def body(**overrides) -> dict:
    return {
        "external_id": "acme-42",
        "name": "Acme",
        "email": "billing@acme.example",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "country": "DE",
        "tax_id": "",
        "address": ADDRESS,
        **overrides,
    }


def test_a_customer_round_trips_every_field(api):
    """ "`POST /customers/` `{external_id, name, email, currency, timezone, country, tax_id,
    address: {line1, line2, city, postal_code, state, country}}`"."""
    made = api.ok("POST", "customers/", body(), 201)
    for key in ("external_id", "name", "email", "currency", "timezone", "country"):
        assert made[key] == body()[key], key
    assert {k: made["address"][k] for k in ADDRESS} == ADDRESS
    # API.md § Tax: no number, nothing to check; not exempt unless told.
    assert (made["tax_id_status"], made["tax_id_checked_at"]) == ("unverified", None)
    assert made["tax_exempt"] == "none"
    assert api.ok("GET", "customers/acme-42/") == made
    assert api.ok("GET", f"customers/{made['id']}/") == made


def test_country_is_iso_3166_alpha_2(api):
    """ "`country` is ISO 3166-1 alpha-2"."""
    for country in ("DEU", "XX", "de1"):
        response = api.post("customers/", body(country=country))
        assert_error(response, 400, "invalid_request", "country")
    assert api.ok("GET", "customers/")["results"] == []


def test_timezone_is_an_iana_name(api):
    """ "`timezone` an IANA name"."""
    response = api.post("customers/", body(timezone="Mars/Olympus"))
    assert_error(response, 400, "invalid_request", "timezone")
    made = h.customer(api, "tokyo", timezone="Asia/Tokyo")
    assert made["timezone"] == "Asia/Tokyo"


def test_payment_terms_and_invoice_delivery(api):
    """Added to the customer (optional): `payment_terms_days` (invoices due that many days
    after issue; null: the default terms) and `invoice_delivery` (`email` | `portal`)."""
    made = h.customer(api, "terms")
    assert (made["payment_terms_days"], made["invoice_delivery"]) == (None, "email")
    h.declared(api, "POST", "customers/", 201, made)
    changed = api.ok("PATCH", "customers/terms/", {"payment_terms_days": 30})
    assert changed["payment_terms_days"] == 30
    h.declared(api, "PATCH", "customers/{id}/", 200, changed)
    h.plan(api, "terms-plan", amount="30.00")
    h.subscribe(api, "terms", "terms-plan")
    (invoice,) = h.invoices_of(api, "terms")
    issued = datetime.fromisoformat(invoice["issued_at"])
    assert datetime.fromisoformat(invoice["due_at"]) - issued == timedelta(days=30)
    portal = h.customer(api, "portal-only", invoice_delivery="portal", payment_terms_days=0)
    assert (portal["payment_terms_days"], portal["invoice_delivery"]) == (0, "portal")
    for bad in ({"payment_terms_days": -1}, {"invoice_delivery": "fax"}):
        response = api.patch("customers/terms/", bad)
        assert_error(response, 400, "invalid_request", next(iter(bad)))
    assert api.ok("GET", "customers/terms/")["payment_terms_days"] == 30
