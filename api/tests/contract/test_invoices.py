"""API.md § Invoices and billing runs over HTTP.

Not covered: "a customer whose billing raises is recorded on the run (`failures`) and the
others are billed" — no call of the API can make one customer's billing raise."""

from datetime import UTC, datetime, timedelta

import pytest

from api.tests.contract import helpers as h
from api.tests.contract.helpers import assert_error

INVOICE_KEYS = {
    "id",
    "number",
    "customer",
    "currency",
    "status",
    "issued_at",
    "due_at",
    "period_start",
    "period_end",
    "lines",
    "subtotal",
    "discount",
    "tax",
    "total",
    "amount_paid",
    "amount_due",
    # API.md § Tax
    "taxes",
    "tax_notes",
}
LINE_KEYS = {
    "kind",
    "description",
    "quantity",
    "unit_amount",
    "amount",
    "period_start",
    "period_end",
    "tax_rate",
    "tax_amount",
    "taxes",  # API.md § Tax
}


@pytest.fixture
def pro(api):
    h.plan(api, "pro", amount="30.00")
    return h.customer(api, "acme")


def subscription_lines(api, customer: str) -> list[tuple[str, str]]:
    """(period_start day, amount) of every subscription line billed to the customer."""
    return sorted(
        (ln["period_start"][:10], ln["amount"])
        for invoice in h.invoices_of(api, customer, limit=100)
        for ln in invoice["lines"]
        if ln["kind"] == "subscription"
    )


def test_an_invoice_has_the_documented_fields(api, pro):
    """ "`GET /invoices/?customer=&status=` and `GET /invoices/{id}/`: `{id, number, customer,
    currency, status, issued_at, due_at, period_start, period_end, lines: [{kind, description,
    quantity, unit_amount, amount, period_start, period_end, tax_rate, tax_amount}], subtotal,
    discount, tax, total, amount_paid, amount_due}`"."""
    h.subscribe(api, "acme", "pro", quantity=2)
    (listed,) = h.invoices_of(api, "acme", status="open")
    assert INVOICE_KEYS <= set(listed)
    invoice = api.ok("GET", f"invoices/{listed['id']}/")
    assert invoice == listed
    assert (invoice["customer"], invoice["currency"], invoice["status"]) == ("acme", "USD", "open")
    (line,) = invoice["lines"]
    assert set(line) >= LINE_KEYS
    assert (line["kind"], line["quantity"], line["amount"]) == ("subscription", "2", "60.00")
    assert (invoice["subtotal"], invoice["discount"], invoice["tax"]) == ("60.00", "0.00", "0.00")
    assert (invoice["total"], invoice["amount_paid"], invoice["amount_due"]) == (
        "60.00",
        "0.00",
        "60.00",
    )


def test_the_pdf(api, pro):
    """ "`GET /invoices/{id}/pdf/`"."""
    h.subscribe(api, "acme", "pro")
    (invoice,) = h.invoices_of(api, "acme")
    response = api.get(f"invoices/{invoice['number']}/pdf/")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_finalize_void_mark_paid(api, pro, worker):
    """ "`POST /invoices/{id}/finalize/`, `/void/`, `/mark-paid/`" (a transition not allowed
    from the current state is 422)."""
    sub = h.subscribe(api, "acme", "pro")
    end = datetime.fromisoformat(sub["current_period_end"])
    h.bill_run(api, h.iso(end + timedelta(minutes=1)))
    (draft,) = h.invoices_of(api, "acme", status="draft")
    assert draft["number"] is None
    opened = api.ok("POST", f"invoices/{draft['id']}/finalize/")
    assert opened["status"] == "open"
    assert opened["number"]
    assert_error(api.post(f"invoices/{draft['id']}/finalize/"), 422, "state")
    paid = api.ok("POST", f"invoices/{opened['number']}/mark-paid/")
    assert (paid["status"], paid["amount_due"]) == ("paid", "0.00")
    assert_error(api.post(f"invoices/{opened['number']}/void/"), 422, "state")
    (first,) = h.invoices_of(api, "acme", status="open")
    voided = api.ok("POST", f"invoices/{first['id']}/void/")
    assert voided["status"] == "void"


def test_a_bill_run_bills_what_is_due_by_as_of_and_nothing_twice(api, pro, worker):
    """ "`POST /billing-runs/` `{as_of}` → bills everything due by `as_of` — base fees of
    periods that started (in advance) …; `as_of` may be any time, past or future
    (simulation). Running it again bills nothing twice"."""
    # Both start at the same moment: "now" and "an hour ago" may fall on different days
    # (between midnight and 1 am UTC), and so end on different days.
    start_at = h.iso(datetime.now(UTC) - timedelta(hours=1))
    sub = h.subscribe(api, "acme", "pro", start_at=start_at)
    h.customer(api, "beta")
    h.subscribe(api, "beta", "pro", start_at=start_at)
    end = datetime.fromisoformat(sub["current_period_end"])
    before = subscription_lines(api, "acme")
    assert len(before) == 1
    run = h.bill_run(api, h.iso(end + timedelta(hours=1)))
    assert run["status"] == "completed", run
    assert run["invoices_created"] == 2
    assert run["failures"] == []  # where a customer whose billing raises would be recorded
    after = subscription_lines(api, "acme")
    assert after == sorted([*before, (end.date().isoformat(), "30.00")])
    again = h.bill_run(api, h.iso(end + timedelta(hours=1)))
    assert (again["invoices_created"], again["lines_created"]) == (0, 0)
    assert subscription_lines(api, "acme") == after


def test_a_backdated_start_bills_the_first_period_and_runs_replay_the_rest(api, pro, worker):
    """ "`start_at` of a subscription may lie in the past …: its periods are counted from it,
    creation bills only the first period, and bill runs catch up the rest — a bill run with
    an `as_of` in the past bills what was due by then and nothing later"."""
    h.subscribe(api, "acme", "pro", start_at="2026-01-15T00:00:00+00:00")
    assert subscription_lines(api, "acme") == [("2026-01-15", "30.00")]
    h.bill_run(api, "2026-03-20T00:00:00+00:00")
    assert subscription_lines(api, "acme") == [
        ("2026-01-15", "30.00"),
        ("2026-02-15", "30.00"),
        ("2026-03-15", "30.00"),
    ]
    h.bill_run(api, "2026-04-20T00:00:00+00:00")
    assert [day for day, _ in subscription_lines(api, "acme")] == [
        "2026-01-15",
        "2026-02-15",
        "2026-03-15",
        "2026-04-15",
    ]


def test_a_bill_run_answers_202_with_the_queued_run(api):
    """ "`POST /billing-runs/` `{as_of}`" — queued as a task: 202 with the run, its status
    among `queued|running|completed|completed_with_failures|failed|abandoned` (issue 13 §4)."""
    response = api.post("billing-runs/", {"as_of": "2026-01-01T00:00:00+00:00"})
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] in {"queued", "running", *h.FINISHED}
    assert api.ok("GET", f"billing-runs/{run['id']}/")["id"] == run["id"]
