"""Add-ons on subscriptions as seen from outside: change previews, the upcoming invoice, the
change event, and the API.

The book (the `book` fixture, conftest.py): a customer (UTC) on "Basic", 30.00 a month paid
in advance, from 2027-01-01. Add-ons: storage 10.00 a month, support 120.00 a year, setup
50.00 once.
"""

from decimal import Decimal

import pytest
import time_machine

from billing.invoicing.selectors import subscription_upcoming_invoice
from billing.invoicing.services.changes import subscription_change
from billing.models import BillingEvent, InvoiceLine, SubscriptionAddOn
from billing.subscriptions.tests.addons_helpers import subscribe, summary, utc

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_draft_grace(settings):
    settings.INVOICE_DRAFT_GRACE_HOURS = 0


def test_preview_equals_the_real_change_and_saves_nothing(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    change = {
        "addons": [
            {"addon": book["storage"], "quantity": 2},
            {"addon": book["setup"], "quantity": 1},
        ],
        "at": utc(2027, 1, 16),
    }
    preview = subscription_change(subscription=sub, preview=True, **change)
    assert SubscriptionAddOn.objects.count() == 1
    assert SubscriptionAddOn.objects.get().ended_at is None
    assert not InvoiceLine.objects.filter(invoice__isnull=True).exists()
    assert [(r.addon.code, r.quantity) for r in preview.subscription.addons.all()] == [
        ("storage", 1)
    ]
    real = subscription_change(subscription=sub, **change)
    assert summary(preview.proration_lines) == summary(real.proration_lines)
    assert [ln.amount for ln in real.proration_lines] == [
        Decimal("-5.16"),  # -10 × 16/31
        Decimal("10.32"),  # 20 × 16/31 = 10.3225…
        Decimal("50.00"),  # the one-time setup
    ]
    assert SubscriptionAddOn.objects.count() == 3


def test_upcoming_invoice_shows_the_addons(book):
    sub = subscribe(book, addons=[(book["storage"], 1)])
    subscription_change(
        subscription=sub, addons=[{"addon": book["storage"], "quantity": 2}], at=utc(2027, 1, 16)
    )
    sub.refresh_from_db()
    invoice = subscription_upcoming_invoice(sub=sub)
    assert [(ln.kind, ln.amount) for ln in invoice.preview_lines] == [
        ("proration", Decimal("-5.16")),
        ("proration", Decimal("10.32")),
        ("subscription", Decimal("30.00")),
        ("addon", Decimal("20.00")),
    ]


def test_change_event_records_the_addons(book):
    sub = subscribe(book)
    subscription_change(
        subscription=sub, addons=[{"addon": book["storage"], "quantity": 2}], at=utc(2027, 1, 16)
    )
    event = BillingEvent.objects.filter(kind="subscription.changed").get()
    assert event.payload["addons"] == [{"addon": "storage", "from_quantity": 0, "quantity": 2}]
    assert event.payload["proration_total"] == "10.32"


# API


@pytest.fixture
def api_book(book):
    with time_machine.travel(utc(2027, 1, 1, 9), tick=False):
        yield book


def test_api_create_with_addons(api, api_book):
    response = api.post(
        "/api/v1/subscriptions/",
        {
            "customer": "acme",
            "plan": "basic",
            "addons": [{"addon": "storage", "quantity": 2}, {"addon": "setup"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [(a["addon"], a["quantity"], a["started_at"]) for a in body["addons"]] == [
        ("storage", 2, "2027-01-01T09:00:00Z"),
        ("setup", 1, "2027-01-01T09:00:00Z"),
    ]
    invoice = api.get("/api/v1/invoices/?customer=acme").json()["results"][0]
    assert [(ln["kind"], ln["amount"]) for ln in invoice["lines"]] == [
        ("addon", "50.00"),
        ("subscription", "30.00"),
        ("addon", "20.00"),
    ]
    listed = api.get("/api/v1/subscriptions/").json()["results"]
    assert [a["addon"] for a in listed[0]["addons"]] == ["storage", "setup"]


def test_api_create_with_a_refused_addon_writes_nothing(api, api_book):
    body = {"customer": "acme", "plan": "basic", "addons": [{"addon": "support"}]}
    response = api.post("/api/v1/subscriptions/", body, format="json")
    assert response.status_code == 400
    assert (response.json()["error"]["field"], response.json()["error"]["code"]) == (
        "addons",
        "addon_interval_mismatch",
    )
    unknown = api.post(
        "/api/v1/subscriptions/", {**body, "addons": [{"addon": "ghost"}]}, format="json"
    )
    assert (unknown.json()["error"]["field"], unknown.json()["error"]["code"]) == (
        "addons.0.addon",
        "does_not_exist",
    )


def test_api_change_with_addons(api, api_book):
    sub = subscribe(api_book)
    url = f"/api/v1/subscriptions/{sub.pk}/change/"
    body = {"addons": [{"addon": "storage", "quantity": 1}], "at": "2027-01-16T12:00:00Z"}
    preview = api.post(url, {**body, "preview": True}, format="json")
    assert preview.status_code == 200, preview.json()
    assert preview.json()["addons"] == []
    assert [ln["amount"] for ln in preview.json()["proration_lines"]] == ["5.16"]
    real = api.post(url, body, format="json")
    assert real.status_code == 200, real.json()
    assert real.json()["addons"] == [
        {"addon": "storage", "quantity": 1, "started_at": "2027-01-16T12:00:00Z"}
    ]
    line = real.json()["proration_lines"][0]
    assert (line["kind"], line["amount"], line["period_start"], line["period_end"]) == (
        "proration",
        "5.16",
        "2027-01-16T00:00:00Z",
        "2027-02-01T00:00:00Z",
    )
    removed = api.post(url, {"addons": [], "at": "2027-01-20T00:00:00Z"}, format="json")
    assert removed.json()["addons"] == []
    assert [ln["amount"] for ln in removed.json()["proration_lines"]] == ["-3.87"]  # -10 × 12/31
    mismatch = api.post(url, {"addons": [{"addon": "support"}]}, format="json")
    assert mismatch.status_code == 400
    assert mismatch.json()["error"]["code"] == "addon_interval_mismatch"
