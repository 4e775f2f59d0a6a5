"""API.md § Customers over HTTP."""

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
