"""API.md § Tax over HTTP: the seller's settings and registrations, customers' VAT numbers and
exemptions, plans' and add-ons' tax terms, taxed invoices and credit notes, the tax report.

Every answer is also checked against the schema the server serves (`/api/schema/`, fetched
over HTTP): no undeclared key, every null declared nullable.

Not covered: "invoices of a customer whose check is pending stay drafts" (422
`tax_id_pending` on finalize) — a check is pending only when the EU's VIES service does not
answer (`VAT_VALIDATION=vies`), which no call of the API can bring about."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error, declared

SETTINGS_KEYS = {
    "legal_name",
    "address",
    "email",
    "seller_country",
    "seller_region",
    "rounding",
    "eu_oss",
    "updated_at",
}
TAX_KEYS = {"name", "jurisdiction", "rate", "taxable_amount", "amount", "reason"}
ROW_KEYS = {
    "jurisdiction",
    "name",
    "rate",
    "currency",
    "taxable_amount",
    "tax_amount",
    "invoices",
    "credit_notes",
}
FR_VAT = "FR40303265045"  # syntax and check digits right: valid under VAT_VALIDATION=checksum
FR_VAT_BAD_CHECK = "FR00303265045"


def today() -> date:
    return datetime.now(UTC).date()


def seller_ie(api: h.Api, **settings) -> dict:
    """An Irish seller registered for VAT at home (with the EU One-Stop Shop by default)."""
    body = api.ok("PATCH", "tax/settings/", {"seller_country": "IE", **settings})
    api.ok("POST", "tax/registrations/", {"country": "IE", "number": "IE6388047V"}, 201)
    return body


def eur_plan(api: h.Api, code: str = "pro", **overrides) -> dict:
    return h.plan(api, code, currency="EUR", **{"amount": "30.00", **overrides})


def eur_customer(api: h.Api, external_id: str, country: str, **overrides) -> dict:
    address = {"line1": "1 Main St", "city": "Town", "postal_code": "10115", "country": country}
    return h.customer(
        api, external_id, currency="EUR", country=country, address=address, **overrides
    )


def first_invoice(api: h.Api, customer: str, plan: str = "pro") -> dict:
    """The first invoice of a new subscription (issued at once), read back and checked."""
    h.subscribe(api, customer, plan)
    (invoice,) = h.invoices_of(api, customer)
    read = api.ok("GET", f"invoices/{invoice['id']}/")
    declared(api, "GET", "invoices/{id}/", 200, read)
    assert read == invoice
    return read


# -- Settings ------------------------------------------------------------------------------


def test_settings_are_read_and_changed_field_by_field(api):
    """ "`GET /tax/settings/`, `PATCH /tax/settings/` `{seller_country: "IE", seller_region: "",
    rounding: "line|invoice", eu_oss: true}`"."""
    first = api.ok("GET", "tax/settings/")
    declared(api, "GET", "tax/settings/", 200, first)
    assert set(first) == SETTINGS_KEYS
    assert (first["rounding"], first["eu_oss"]) == ("line", True)
    change = {
        "seller_country": "IE",
        "seller_region": "",
        "rounding": "invoice",
        "eu_oss": False,
        "legal_name": "Acme Software Ltd",
        "address": "1 Grand Canal Sq\nDublin 2",
        "email": "billing@acme.example",
    }
    changed = api.ok("PATCH", "tax/settings/", change)
    declared(api, "PATCH", "tax/settings/", 200, changed)
    assert {key: changed[key] for key in change} == change
    assert api.ok("GET", "tax/settings/") == changed
    # Partial: only what is given changes.
    again = api.ok("PATCH", "tax/settings/", {"rounding": "line"})
    assert again["rounding"] == "line"
    assert {key: again[key] for key in change if key != "rounding"} == {
        key: value for key, value in change.items() if key != "rounding"
    }


def test_a_us_seller_has_a_state(api):
    """ "`region`: a US state or Canadian province code" — the seller's too."""
    body = api.ok("PATCH", "tax/settings/", {"seller_country": "US", "seller_region": "TX"})
    assert (body["seller_country"], body["seller_region"]) == ("US", "TX")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"seller_country": "XX"}, "seller_country"),
        ({"seller_country": "IRL"}, "seller_country"),
        ({"rounding": "nearest"}, "rounding"),
        ({"eu_oss": "perhaps"}, "eu_oss"),
        ({"email": "not-an-email"}, "email"),
        ({"seller_country": "US", "seller_region": "Texas"}, "seller_region"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_settings_are_400_naming_the_field(api, change, field):
    """ "Errors: … 400" naming the field; nothing changes."""
    before = api.ok("GET", "tax/settings/")
    response = api.patch("tax/settings/", change)
    assert_error(response, 400, "invalid_request", field)
    declared(api, "PATCH", "tax/settings/", 400, response.json())
    assert api.ok("GET", "tax/settings/") == before


def test_settings_need_the_write_scope_to_change(api, reader, anonymous):
    """ "a key has scopes (`read`, `write`) … wrong scope → 403"."""
    assert reader.ok("GET", "tax/settings/")["rounding"] == "line"
    assert_error(reader.patch("tax/settings/", {"rounding": "invoice"}), 403, "permission")
    assert_error(anonymous.get("tax/settings/"), 401, "authentication")
    assert api.ok("GET", "tax/settings/")["rounding"] == "line"


# -- Registrations -------------------------------------------------------------------------


def test_registrations_are_created_listed_read_and_deleted(api):
    """ "`POST /tax/registrations/` `{country, region, number}` …, `GET`,
    `DELETE /tax/registrations/{id}/`"."""
    ie = api.ok("POST", "tax/registrations/", {"country": "IE", "number": "IE6388047V"}, 201)
    declared(api, "POST", "tax/registrations/", 201, ie)
    assert (ie["country"], ie["region"], ie["number"]) == ("IE", "", "IE6388047V")
    tx = api.ok(
        "POST", "tax/registrations/", {"country": "US", "region": "TX", "number": "32-1"}, 201
    )
    assert (tx["country"], tx["region"]) == ("US", "TX")
    qc = api.ok("POST", "tax/registrations/", {"country": "CA", "region": "QC"}, 201)
    assert qc["number"] == ""

    listed = api.ok("GET", "tax/registrations/")
    declared(api, "GET", "tax/registrations/", 200, listed)
    assert [r["id"] for r in listed["results"]] == [ie["id"], tx["id"], qc["id"]]
    assert listed["next_cursor"] is None
    page = api.ok("GET", "tax/registrations/", limit=2)
    assert len(page["results"]) == 2
    rest = api.ok("GET", "tax/registrations/", limit=2, cursor=page["next_cursor"])
    assert [r["id"] for r in rest["results"]] == [qc["id"]]
    assert api.ok("GET", "tax/registrations/", country="US")["results"] == [tx]

    read = api.ok("GET", f"tax/registrations/{tx['id']}/")
    declared(api, "GET", "tax/registrations/{id}/", 200, read)
    assert read == tx

    deleted = api.request("DELETE", f"tax/registrations/{tx['id']}/")
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    declared(api, "DELETE", "tax/registrations/{id}/", 204, None)
    assert_error(api.get(f"tax/registrations/{tx['id']}/"), 404, "not_found")
    again = api.request("DELETE", f"tax/registrations/{tx['id']}/")
    error = assert_error(again, 404, "not_found")
    assert error["code"] == "not_found"
    declared(api, "DELETE", "tax/registrations/{id}/", 404, again.json())
    remaining = api.ok("GET", "tax/registrations/")["results"]
    assert [r["id"] for r in remaining] == [ie["id"], qc["id"]]


def test_a_second_registration_of_the_same_place_is_400(api):
    """One registration per country (or state/province): "Where the seller collects"."""
    api.ok("POST", "tax/registrations/", {"country": "IE"}, 201)
    response = api.post("tax/registrations/", {"country": "IE", "number": "IE6388047V"})
    error = assert_error(response, 400, "invalid_request", "country")
    assert error["code"] == "unique"
    declared(api, "POST", "tax/registrations/", 400, response.json())
    api.ok("POST", "tax/registrations/", {"country": "US", "region": "TX"}, 201)
    again = api.post("tax/registrations/", {"country": "US", "region": "TX"})
    assert_error(again, 400, "invalid_request", "region")
    assert len(api.ok("GET", "tax/registrations/")["results"]) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "Ireland"}, "country"),
        ({}, "country"),
        ({"country": "DE", "region": "BY"}, "region"),  # regions: US states, CA provinces
        ({"country": "US", "region": "Texas"}, "region"),
        ({"country": "IE", "vat": "IE6388047V"}, "vat"),
    ],
)
def test_an_invalid_registration_is_400_naming_the_field(api, body, field):
    """ "`region`: a US state or Canadian province code, blank for the whole country"."""
    assert_error(api.post("tax/registrations/", body), 400, "invalid_request", field)
    assert api.ok("GET", "tax/registrations/")["results"] == []


def test_an_unknown_registration_is_404(api):
    """ "unknown object → 404", for GET and DELETE alike."""
    for path in ("tax/registrations/999999/", "tax/registrations/ie/"):
        response = api.get(path)
        assert_error(response, 404, "not_found")
        declared(api, "GET", "tax/registrations/{id}/", 404, response.json())
        assert_error(api.request("DELETE", path), 404, "not_found")


def test_registrations_need_the_write_scope_to_change(api, reader):
    """ "wrong scope → 403": a read key may list but not register or delete."""
    made = api.ok("POST", "tax/registrations/", {"country": "IE"}, 201)
    assert reader.ok("GET", "tax/registrations/")["results"] == [made]
    assert_error(reader.post("tax/registrations/", {"country": "DE"}), 403, "permission")
    denied = reader.request("DELETE", f"tax/registrations/{made['id']}/")
    assert_error(denied, 403, "permission")
    assert api.ok("GET", f"tax/registrations/{made['id']}/") == made


def test_a_registration_post_is_idempotent(api):
    """ "`Idempotency-Key` header on any POST": a retried registration is made once."""
    body = {"country": "IE", "number": "IE6388047V"}
    first = api.post("tax/registrations/", body, **{"Idempotency-Key": "reg-1"})
    again = api.post("tax/registrations/", body, **{"Idempotency-Key": "reg-1"})
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.json() == first.json()
    assert len(api.ok("GET", "tax/registrations/")["results"]) == 1


# -- Customers -----------------------------------------------------------------------------


def test_a_customer_vat_number_is_normalised_and_checked(api):
    """ "`tax_id` is a VAT/GST number — normalised, checked (`tax_id_status:
    unverified|valid|invalid|pending`)" (`VAT_VALIDATION=checksum` here)."""
    made = eur_customer(api, "fr-b2b", "FR", tax_id="fr 40 303 265 045")
    declared(api, "POST", "customers/", 201, made)
    assert (made["tax_id"], made["tax_id_status"]) == (FR_VAT, "valid")
    assert made["tax_id_checked_at"]
    assert made["tax_exempt"] == "none"
    assert api.ok("GET", "customers/fr-b2b/") == made

    bad = eur_customer(api, "fr-bad", "FR", tax_id=FR_VAT_BAD_CHECK)
    assert bad["tax_id_status"] == "invalid"
    consumer = eur_customer(api, "de-b2c", "DE")
    assert (consumer["tax_id"], consumer["tax_id_status"]) == ("", "unverified")
    assert consumer["tax_id_checked_at"] is None
    declared(api, "GET", "customers/{id}/", 200, api.ok("GET", "customers/de-b2c/"))

    # A number added later is checked then.
    changed = api.ok("PATCH", "customers/fr-bad/", {"tax_id": FR_VAT})
    assert (changed["tax_id"], changed["tax_id_status"]) == (FR_VAT, "valid")


def test_a_customer_tax_exemption_is_set_on_create_and_update(api):
    """ "`tax_exempt: none|exempt|reverse`"."""
    made = eur_customer(api, "charity", "DE", tax_exempt="exempt")
    assert made["tax_exempt"] == "exempt"
    changed = api.ok("PATCH", "customers/charity/", {"tax_exempt": "reverse"})
    declared(api, "PATCH", "customers/{id}/", 200, changed)
    assert changed["tax_exempt"] == "reverse"
    assert api.ok("GET", "customers/charity/")["tax_exempt"] == "reverse"
    response = api.patch("customers/charity/", {"tax_exempt": "sometimes"})
    assert_error(response, 400, "invalid_request", "tax_exempt")
    body = {"external_id": "x", "name": "X", "email": "x@example.com", "currency": "EUR"}
    response = api.post("customers/", {**body, "tax_exempt": "yes"})
    assert_error(response, 400, "invalid_request", "tax_exempt")
    # The check's answer is the server's: not writable.
    response = api.patch("customers/charity/", {"tax_id_status": "valid"})
    assert_error(response, 400, "invalid_request", "tax_id_status")


# -- Plans and add-ons ---------------------------------------------------------------------


def test_plans_and_addons_have_tax_behavior_and_tax_code(api):
    """ "Plans and add-ons: `tax_behavior: exclusive|inclusive` (default `exclusive` …) and
    `tax_code: saas|digital|services|exempt` (default `saas`)"."""
    plain = h.plan(api, "plain")
    declared(api, "POST", "plans/", 201, plain)
    assert (plain["tax_behavior"], plain["tax_code"]) == ("exclusive", "saas")
    gross = h.plan(api, "gross", tax_behavior="inclusive", tax_code="digital")
    assert (gross["tax_behavior"], gross["tax_code"]) == ("inclusive", "digital")
    assert api.ok("GET", "plans/gross/") == gross

    body = {"code": "setup", "name": "Setup", "currency": "USD", "amount": "99.00"}
    addon = api.ok("POST", "addons/", {**body, "interval": "one_time"}, 201)
    declared(api, "POST", "addons/", 201, addon)
    assert (addon["tax_behavior"], addon["tax_code"]) == ("exclusive", "saas")
    terms = {"tax_code": "services", "tax_behavior": "inclusive"}
    services = api.ok(
        "POST", "addons/", {**body, "code": "onboarding", "interval": "one_time", **terms}, 201
    )
    assert (services["tax_behavior"], services["tax_code"]) == ("inclusive", "services")
    assert api.ok("GET", "addons/onboarding/") == services


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("plans/", "tax_behavior", "gross"),
        ("plans/", "tax_code", "food"),
        ("addons/", "tax_behavior", "net"),
        ("addons/", "tax_code", "books"),
    ],
)
def test_an_unknown_tax_behavior_or_code_is_400(api, path, field, value):
    body = {"code": "p", "name": "P", "currency": "USD", "amount": "1.00", field: value}
    if path == "addons/":
        body["interval"] = "month"
    assert_error(api.post(path, body), 400, "invalid_request", field)
    assert api.ok("GET", path)["results"] == []


# -- Invoices ------------------------------------------------------------------------------


def test_an_eu_consumer_pays_their_country_vat(api):
    """ "With `eu_oss: true` a registration of the seller's EU home country covers EU
    consumers everywhere in the EU, at their country's rate"; "Invoice lines: `amount` …
    net of tax; `tax_rate` … and `tax_amount`, plus `taxes: [{name, jurisdiction, rate,
    taxable_amount, amount, reason}]` … Invoices: `taxes` … and `tax_notes`"."""
    seller_ie(api, eu_oss=True)
    eur_plan(api)
    eur_customer(api, "berlin", "DE")
    invoice = first_invoice(api, "berlin")
    (line,) = invoice["lines"]
    assert (line["amount"], line["tax_amount"]) == ("30.00", "5.70")
    assert Decimal(line["tax_rate"]) == 19
    (tax,) = line["taxes"]
    assert set(tax) == TAX_KEYS
    assert tax == {
        "name": "VAT",
        "jurisdiction": "DE",
        "rate": "19",
        "taxable_amount": "30.00",
        "amount": "5.70",
        "reason": "standard",
    }
    assert invoice["taxes"] == [tax]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("30.00", "5.70", "35.70")
    assert invoice["amount_due"] == "35.70"
    assert isinstance(invoice["tax_notes"], list)
    assert invoice["tax_date"] == today().isoformat()
    assert invoice["buyer_tax_id"] == ""


def test_without_oss_an_eu_consumer_pays_the_home_rate(api):
    """ "`eu_oss: false` means a seller under the EU's €10,000 distance-selling threshold: EU
    consumers pay the seller's home rate"."""
    seller_ie(api, eu_oss=False)
    eur_plan(api)
    eur_customer(api, "berlin", "DE")
    (tax,) = first_invoice(api, "berlin")["lines"][0]["taxes"]
    assert (tax["name"], tax["jurisdiction"], tax["rate"]) == ("VAT", "IE", "23")
    assert (tax["amount"], tax["reason"]) == ("6.90", "standard")


def test_a_business_in_another_member_state_is_reverse_charged(api):
    """ "a customer with a valid number is a business"; `reason` … `reverse_charge`;
    "`tax_notes` (e.g. the reverse-charge statement)"."""
    seller_ie(api)
    eur_plan(api)
    eur_customer(api, "paris", "FR", tax_id=FR_VAT)
    invoice = first_invoice(api, "paris")
    (line,) = invoice["lines"]
    (tax,) = line["taxes"]
    assert set(tax) == TAX_KEYS
    assert (tax["jurisdiction"], tax["reason"]) == ("FR", "reverse_charge")
    assert (tax["rate"], tax["amount"], tax["taxable_amount"]) == ("0", "0.00", "30.00")
    assert (line["amount"], line["tax_amount"]) == ("30.00", "0.00")
    assert [row["reason"] for row in invoice["taxes"]] == ["reverse_charge"]
    assert (invoice["tax"], invoice["total"]) == ("0.00", "30.00")
    assert invoice["tax_notes"], invoice
    assert any("reverse charge" in note.lower() for note in invoice["tax_notes"])
    assert invoice["buyer_tax_id"] == FR_VAT


def test_a_sale_where_the_seller_is_not_registered_carries_no_tax(api):
    """ "A sale where the seller has no registration carries no tax, with `reason:
    "not_collecting"`"."""
    seller_ie(api)
    h.plan(api, "pro", amount="30.00")
    h.customer(api, "austin", address={"state": "TX", "country": "US", "postal_code": "73301"})
    invoice = first_invoice(api, "austin")
    (tax,) = invoice["lines"][0]["taxes"]
    assert (tax["amount"], tax["reason"]) == ("0.00", "not_collecting")
    assert tax["jurisdiction"].startswith("US")
    assert (invoice["tax"], invoice["total"]) == ("0.00", "30.00")


def test_an_exempt_customer_pays_no_tax(api):
    """ "`tax_exempt: none|exempt|reverse`"; `reason` … `exempt`."""
    seller_ie(api)
    eur_plan(api)
    eur_customer(api, "charity", "IE", tax_exempt="exempt")
    invoice = first_invoice(api, "charity")
    (tax,) = invoice["lines"][0]["taxes"]
    assert (tax["amount"], tax["reason"]) == ("0.00", "exempt")
    assert invoice["tax"] == "0.00"


def test_an_inclusive_price_is_the_gross_the_customer_pays(api):
    """ "an inclusive price is the gross the customer pays"; "`amount` and `unit_amount` are
    always net of tax"."""
    seller_ie(api)
    eur_plan(api, amount="119.00", tax_behavior="inclusive")
    eur_customer(api, "berlin", "DE")
    invoice = first_invoice(api, "berlin")
    (line,) = invoice["lines"]
    assert (line["amount"], line["unit_amount"], line["tax_amount"]) == (
        "100.00",
        "100.00",
        "19.00",
    )
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (
        "100.00",
        "19.00",
        "119.00",
    )


def test_a_credit_note_carries_tax_in_proportion(api):
    """ "A credit note carries tax in proportion to what it credits (`subtotal`, `tax`,
    `total`)"."""
    seller_ie(api)
    eur_plan(api)
    eur_customer(api, "berlin", "DE")
    invoice = first_invoice(api, "berlin")
    (line,) = invoice["lines"]
    body = {
        "invoice": invoice["number"],
        "reason": "order_change",
        "lines": [{"line": line["id"], "amount": "17.85"}],  # half of 35.70, tax included
    }
    half = api.ok("POST", "credit-notes/", body, 201)
    declared(api, "POST", "credit-notes/", 201, half)
    assert (half["subtotal"], half["tax"], half["total"]) == ("15.00", "2.85", "17.85")
    (row,) = half["taxes"]
    assert set(row) == TAX_KEYS
    assert (row["name"], row["jurisdiction"], row["rate"]) == ("VAT", "DE", "19")
    assert (row["taxable_amount"], row["amount"]) == ("15.00", "2.85")
    (credited,) = half["lines"]
    assert (credited["invoice_line"], credited["amount"]) == (line["id"], "17.85")
    assert credited["tax_amount"] == "2.85"
    read = api.ok("GET", f"credit-notes/{half['id']}/")
    declared(api, "GET", "credit-notes/{id}/", 200, read)
    assert read == half

    rest = api.ok("POST", "credit-notes/", {"invoice": invoice["number"], "reason": "other"}, 201)
    assert (rest["subtotal"], rest["tax"], rest["total"]) == ("15.00", "2.85", "17.85")


# -- Tax report ----------------------------------------------------------------------------


def test_the_tax_report_sums_tax_per_jurisdiction_name_and_rate(api):
    """ "`GET /tax/report/?from=&to=&currency=` → `{rows: [{jurisdiction, name, rate,
    taxable_amount, tax_amount, invoices, credit_notes}]}` per jurisdiction, name and rate,
    credit notes netted; `from`/`to` are dates of the tax point"."""
    seller_ie(api)
    eur_plan(api)
    eur_customer(api, "berlin", "DE")
    eur_customer(api, "munich", "DE")
    eur_customer(api, "dublin", "IE")
    berlin = first_invoice(api, "berlin")
    first_invoice(api, "munich")
    first_invoice(api, "dublin")
    (line,) = berlin["lines"]
    body = {"invoice": berlin["number"], "reason": "order_change"}
    api.ok(
        "POST", "credit-notes/", {**body, "lines": [{"line": line["id"], "amount": "11.90"}]}, 201
    )

    day = today().isoformat()
    report = api.ok("GET", "tax/report/", **{"from": day, "to": day, "currency": "EUR"})
    declared(api, "GET", "tax/report/", 200, report)
    assert set(report) == {"rows"}
    rows = {(r["jurisdiction"], r["name"], r["rate"]): r for r in report["rows"]}
    for row in report["rows"]:
        assert set(row) == ROW_KEYS
        assert row["currency"] == "EUR"
    # 2 × 30.00 at 19 %, less a credit of 10.00 net (1.90 tax)
    assert rows[("DE", "VAT", "19")] == {
        "jurisdiction": "DE",
        "name": "VAT",
        "rate": "19",
        "currency": "EUR",
        "taxable_amount": "50.00",
        "tax_amount": "9.50",
        "invoices": 2,
        "credit_notes": 1,
    }
    ie = rows[("IE", "VAT", "23")]
    assert (ie["taxable_amount"], ie["tax_amount"], ie["invoices"]) == ("30.00", "6.90", 1)
    assert ie["credit_notes"] == 0
    # Without filters: the same rows (one currency, one day).
    assert api.ok("GET", "tax/report/") == report
    # Another currency, or days before the tax point: nothing.
    assert api.ok("GET", "tax/report/", currency="USD")["rows"] == []
    before = (today() - timedelta(days=3)).isoformat()
    yesterday = (today() - timedelta(days=1)).isoformat()
    assert api.ok("GET", "tax/report/", **{"from": before, "to": yesterday})["rows"] == []
    assert api.ok("GET", "tax/report/", **{"from": day}) == report
    assert api.ok("GET", "tax/report/", to=day) == report


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, "to"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
    ],
)
def test_the_tax_report_refuses_bad_dates_and_currencies(api, params, field):
    """ "`from`/`to` are dates"; a currency is an ISO 4217 code: 400 naming the parameter."""
    response = api.get("tax/report/", **params)
    assert_error(response, 400, "invalid_request", field)
    declared(api, "GET", "tax/report/", 400, response.json())


def test_the_tax_report_needs_a_key(anonymous, reader):
    """ "No key → 401"; reading needs only the `read` scope."""
    assert_error(anonymous.get("tax/report/"), 401, "authentication")
    assert reader.ok("GET", "tax/report/") == {"rows": []}
