"""API.md § Revenue and ledger, the journal, over HTTP: "`GET /journal-entries/?from=&to=
&customer=&kind=` → `{id, date, kind, source, lines: [{account, debit, credit}], currency}`;
every entry balances. `GET /journal-entries/export/?from=&to=&format=csv`. Accounts are set
in the admin; defaults `accounts_receivable`, `cash`, `deferred_revenue`, `revenue`,
`tax_payable`, `unbilled_receivable`, `customer_balance`."

Entries are posted by the reports' consumer in the worker, within seconds of the billing
change: the tests wait for them. Every answer is checked against the served schema."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error, declared

ENTRY_KEYS = {"id", "date", "kind", "source", "customer", "currency", "memo", "lines"}
DEFAULT_ACCOUNTS = {
    "accounts_receivable",
    "cash",
    "deferred_revenue",
    "revenue",
    "tax_payable",
    "unbilled_receivable",
    "customer_balance",
}


@pytest.fixture
def acme(api):
    h.plan(api, "pro")
    return h.customer(api, "acme")


def entries_of(api, **params) -> list[dict]:
    return api.ok("GET", "journal-entries/", **params)["results"]


def posted(api, kind: str, count: int = 1, **params) -> list[dict]:
    """Wait for `count` entries of `kind` (the worker posts them after the commit)."""
    return h.wait_for(
        lambda: (found := entries_of(api, kind=kind, **params)) and len(found) >= count and found,
        what=f"{count} {kind} journal entries",
    )


def balanced(entry: dict) -> bool:
    debit = sum(Decimal(line["debit"]) for line in entry["lines"])
    return debit == sum(Decimal(line["credit"]) for line in entry["lines"]) and debit > 0


def test_a_finalized_invoice_and_its_payment_are_balanced_entries(api, acme, worker):
    h.subscribe(api, "acme", "pro")
    (invoice,) = h.invoices_of(api, "acme")
    (booked,) = posted(api, "invoice", customer="acme")
    declared(api, "GET", "journal-entries/", 200, api.ok("GET", "journal-entries/"))
    assert set(booked) == ENTRY_KEYS
    assert (booked["source"], booked["currency"], booked["customer"]) == (
        invoice["number"],
        "USD",
        "acme",
    )
    assert booked["date"] == invoice["issued_at"][:10]
    assert sorted((ln["account"], ln["debit"], ln["credit"]) for ln in booked["lines"]) == [
        ("accounts_receivable", "30.00", "0.00"),
        ("deferred_revenue", "0.00", "30.00"),
    ]

    api.ok("POST", f"invoices/{invoice['id']}/mark-paid/")
    (paid,) = posted(api, "payment", customer="acme")
    assert sorted((ln["account"], ln["debit"], ln["credit"]) for ln in paid["lines"]) == [
        ("accounts_receivable", "0.00", "30.00"),
        ("cash", "30.00", "0.00"),
    ]
    every = entries_of(api)
    assert all(balanced(entry) for entry in every)
    assert {ln["account"] for entry in every for ln in entry["lines"]} <= DEFAULT_ACCOUNTS
    one = api.ok("GET", f"journal-entries/{paid['id']}/")
    declared(api, "GET", "journal-entries/{id}/", 200, one)
    assert one == paid


def test_filters_by_dates_customer_and_kind(api, acme, worker):
    h.customer(api, "beta")
    h.subscribe(api, "acme", "pro")
    h.subscribe(api, "beta", "pro")
    posted(api, "invoice", count=2)
    today = datetime.now(UTC).date().isoformat()
    assert [e["customer"] for e in entries_of(api, customer="beta")] == ["beta"]
    assert len(entries_of(api, **{"from": today, "to": today}, kind="invoice")) == 2
    assert entries_of(api, **{"to": "2000-01-01"}) == []
    assert entries_of(api, kind="refund") == []


def test_bad_filters_are_400_naming_the_parameter(api):
    for params, field in (
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
        ({"kind": "bonus"}, "kind"),
    ):
        response = api.get("journal-entries/", **params)
        assert_error(response, 400, "invalid_request", field)
        declared(api, "GET", "journal-entries/", 400, response.json())
    assert_error(api.get("journal-entries/export/", format="pdf"), 400, "invalid_request", "format")
    assert_error(
        api.get("journal-entries/export/", format="xero"), 400, "invalid_request", "currency"
    )


def test_the_export_is_the_same_entries_as_csv(api, acme, worker):
    h.subscribe(api, "acme", "pro")
    (booked,) = posted(api, "invoice")
    response = api.get("journal-entries/export/", format="csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    mine = [row for row in rows if row["entry_id"] == str(booked["id"])]
    assert sorted((r["account"], r["debit"], r["credit"]) for r in mine) == [
        ("accounts_receivable", "30.00", "0.00"),
        ("deferred_revenue", "0.00", "30.00"),
    ]
    assert {r["source"] for r in mine} == {booked["source"]}
    xero = api.get("journal-entries/export/", format="xero", currency="USD")
    assert xero.status_code == 200
    header = xero.text.splitlines()[0]
    assert header.startswith("Narration,Date,Description,AccountCode,TaxRate,Amount")
    quickbooks = api.get("journal-entries/export/", format="quickbooks", currency="USD")
    assert quickbooks.status_code == 200
    assert "Journal No." in quickbooks.text.splitlines()[0]


def test_the_journal_needs_a_key(anonymous, reader):
    assert_error(anonymous.get("journal-entries/"), 401, "authentication")
    assert reader.get("journal-entries/").status_code == 200
