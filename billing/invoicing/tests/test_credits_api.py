"""Credit notes and the customer balance through the API and the admin."""

import pytest
import time_machine
from django.urls import reverse

from billing.invoicing.services import credits as c
from billing.invoicing.tests.credits_helpers import AT, D, line_ids, make_invoice, paid_invoice
from billing.models import BalanceTransaction, BillingEvent, CreditNote

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


# --- API ---
def post(api, url, body):
    return api.post(f"/api/v1/{url}", body, format="json")


@pytest.fixture
def clock():
    with time_machine.travel(AT, tick=False):
        yield


def test_api_issue_full_and_partial_credit_notes(api, customer, clock):
    invoice = paid_invoice(customer, ["30.00", "20.00"])
    first, second = line_ids(invoice)
    response = post(
        api,
        "credit-notes/",
        {
            "invoice": invoice.number,
            "reason": "order_change",
            "lines": [{"line": second, "amount": "20.00"}],
            "refund": "5.00",
            "memo": "Seat removed",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("number", "customer", "invoice", "currency", "reason")} == {
        "number": "CN-2027-000001",
        "customer": "acme",
        "invoice": invoice.number,
        "currency": "USD",
        "reason": "order_change",
    }
    assert (body["total"], body["refund_amount"], body["credit_amount"]) == (
        "20.00",
        "5.00",
        "15.00",
    )
    assert body["lines"] == [
        {
            "id": body["lines"][0]["id"],
            "invoice_line": second,
            "description": "Item 2",
            "amount": "20.00",
            "tax_amount": "0.00",
        }
    ]
    full = post(api, "credit-notes/", {"invoice": str(invoice.pk), "reason": "other"})
    assert full.status_code == 201, full.json()
    assert full.json()["total"] == "30.00"

    listed = api.get("/api/v1/credit-notes/", {"invoice": invoice.number}).json()["results"]
    assert [n["number"] for n in listed] == ["CN-2027-000001", "CN-2027-000002"]
    assert len(api.get("/api/v1/credit-notes/", {"customer": "acme"}).json()["results"]) == 2
    assert api.get("/api/v1/credit-notes/", {"customer": "nobody"}).json()["results"] == []
    by_number = api.get("/api/v1/credit-notes/CN-2027-000002/")
    assert by_number.json()["id"] == full.json()["id"]

    balances = api.get("/api/v1/balances/", {"customer": "acme"}).json()
    assert balances["customer"] == "acme"
    assert balances["balances"] == [{"currency": "USD", "amount": "45.00"}]
    assert [(t["kind"], t["amount"], t["credit_note"]) for t in balances["transactions"]] == [
        ("credit_note", "30.00", "CN-2027-000002"),
        ("credit_note", "15.00", "CN-2027-000001"),
    ]
    by_id = api.get("/api/v1/balances/", {"customer": str(customer.pk)}).json()
    assert by_id["balances"] == balances["balances"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"reason": "because"}, "reason", "invalid_choice"),
        ({"invoice": "INV-nope"}, "invoice", "does_not_exist"),
        ({"lines": [{"line": 0, "amount": "1"}]}, "lines.0.line", "min_value"),
        ({"lines": [{"line": "LINE", "amount": "30.01"}]}, "lines.0.amount", "exceeds_creditable"),
        ({"lines": [{"line": "LINE", "amount": "-1"}]}, "lines.0.amount", "min_value"),
        ({"refund": "0.01"}, "refund", "exceeds_paid"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
def test_api_invalid_credit_note_is_400(api, customer, body, field, code):
    invoice = make_invoice(customer, ["30.00"])
    (line,) = line_ids(invoice)
    if "lines" in body:
        body["lines"] = [
            {**ln, "line": line if ln["line"] == "LINE" else ln["line"]} for ln in body["lines"]
        ]
    response = post(api, "credit-notes/", {"invoice": invoice.number, "reason": "other", **body})
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)
    assert not CreditNote.objects.exists()


def test_api_credit_note_on_a_draft_is_422(api, customer):
    invoice = make_invoice(customer, ["30.00"], finalize=False)
    response = post(api, "credit-notes/", {"invoice": str(invoice.pk), "reason": "other"})
    assert response.status_code == 422, response.json()
    assert response.json()["error"]["code"] == "invoice_not_creditable"


def test_api_unknown_objects_are_404(api, customer):
    response = api.get("/api/v1/credit-notes/CN-2027-999999/")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
    assert api.get("/api/v1/balances/", {"customer": "nobody"}).status_code == 404
    missing = api.get("/api/v1/balances/")
    assert missing.status_code == 400
    assert (missing.json()["error"]["field"], missing.json()["error"]["code"]) == (
        "customer",
        "required",
    )


def test_api_read_only_key_cannot_issue(read_only_api, customer):
    invoice = make_invoice(customer, ["30.00"])
    response = read_only_api.post(
        "/api/v1/credit-notes/", {"invoice": invoice.number, "reason": "other"}, format="json"
    )
    assert response.status_code == 403


# --- Admin ---
def test_admin_credit_note_pages_are_read_only(admin_client, customer):
    invoice = paid_invoice(customer, ["30.00"])
    note = c.credit_note_issue(invoice=invoice, at=AT, reason="other")
    changelist = admin_client.get(reverse("admin:billing_creditnote_changelist"), {"q": "CN"})
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count == 1
    page = admin_client.get(reverse("admin:billing_creditnote_change", args=[note.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(reverse("admin:billing_creditnote_add")).status_code == 403
    entries = admin_client.get(
        reverse("admin:billing_balancetransaction_changelist"), {"kind": "credit_note"}
    )
    assert entries.context["cl"].result_count == 1


def test_admin_balance_adjustment_goes_through_the_service(admin_client, customer):
    url = reverse("admin:billing_balancetransaction_add")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {"customer": customer.pk, "currency": "USD", "amount": "12.50", "description": "Goodwill"},
    )
    assert response.status_code == 302
    entry = BalanceTransaction.objects.get()
    assert (entry.kind, entry.amount) == ("adjustment", D("12.50"))
    assert BillingEvent.objects.filter(kind="balance.adjusted").exists()
    refused = admin_client.post(
        url,
        {"customer": customer.pk, "currency": "USD", "amount": "-20", "description": "Oops"},
        follow=True,
    )
    assert "below 0" in refused.content.decode()
    assert BalanceTransaction.objects.count() == 1
    change = reverse("admin:billing_balancetransaction_change", args=[entry.pk])
    assert 'name="_save"' not in admin_client.get(change).content.decode()
