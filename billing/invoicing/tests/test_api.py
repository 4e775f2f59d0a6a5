import pytest

from billing.invoicing.services.references import payment_reference_for
from billing.models import Invoice, Subscription
from billing.tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(db):
    factories.customer(external_id="acme")
    factories.plan(code="pro", amount="30.00")


def create(api, **body):
    return api.post(
        "/api/v1/subscriptions/", {"customer": "acme", "plan": "pro", **body}, format="json"
    )


def test_create_backdated_subscription_and_its_first_invoice(api, setup):
    response = create(api, external_id="sub-1", start_at="2026-01-31T10:00:00Z", quantity=2)
    assert response.status_code == 201, response.json()
    sub = response.json()
    assert (sub["status"], sub["plan"], sub["customer"]) == ("active", "pro", "acme")
    assert api.get("/api/v1/subscriptions/sub-1/").json()["id"] == sub["id"]
    invoices = api.get("/api/v1/invoices/?customer=acme").json()["results"]
    assert len(invoices) == 1
    invoice = invoices[0]
    assert invoice["status"] == "open"
    assert invoice["number"].startswith("INV-")
    assert len(invoice["lines"]) == 1  # the first period only: bill runs catch up the rest
    first = invoice["lines"][0]
    assert (first["kind"], first["quantity"], first["unit_amount"], first["amount"]) == (
        "subscription",
        "2",
        "30.00",
        "60.00",
    )
    assert first["period_start"].startswith("2026-01-31")
    assert invoice["total"] == f"{60 * len(invoice['lines'])}.00"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"customer": "nobody"}, "customer", "does_not_exist"),
        ({"plan": "nope"}, "plan", "does_not_exist"),
        ({"quantity": 0}, "quantity", "min_value"),
        ({"billing_day": 32}, "billing_day", "max_value"),
        ({"start_at": "yesterday"}, "start_at", "invalid"),
        ({"colour": "blue"}, "colour", "unknown_field"),
    ],
)
def test_invalid_subscription_is_400_and_writes_nothing(api, setup, body, field, code):
    response = create(api, **body)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["field"], error["code"]) == (field, code)
    assert not Subscription.objects.exists()
    assert not Invoice.objects.exists()


def test_billing_day_refused_for_weekly_plan(api, setup):
    factories.plan(code="weekly", interval="week")
    response = create(api, plan="weekly", billing_day=3)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "billing_day"


def test_cancel_pause_resume_and_illegal_transition_is_422(api, setup):
    sub_id = create(api).json()["id"]
    url = f"/api/v1/subscriptions/{sub_id}/"
    paused = api.post(f"{url}pause/", {}, format="json")
    assert paused.json()["status"] == "paused"
    assert api.post(f"{url}resume/", {}, format="json").json()["status"] == "active"
    canceled = api.post(
        f"{url}cancel/", {"when": "immediately", "reason": "too_expensive"}, format="json"
    )
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["cancel_reason"] == "too_expensive"
    refused = api.post(f"{url}pause/", {}, format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["type"] == "state"
    assert Subscription.objects.get().status == "canceled"


def test_upcoming_invoice_is_the_next_period(api, setup):
    sub = create(api, start_at="2026-03-10T00:00:00Z").json()
    invoice = api.get(f"/api/v1/subscriptions/{sub['id']}/upcoming-invoice/").json()
    assert invoice["id"] is None
    assert [ln["period_start"][:10] for ln in invoice["lines"]] == [sub["current_period_end"][:10]]
    assert invoice["total"] == "30.00"


def test_billing_run_and_invoice_actions(
    api, setup, settings, bill_run_tasks_inline, django_capture_on_commit_callbacks
):
    settings.INVOICE_DRAFT_GRACE_HOURS = 1
    create(api, start_at="2026-01-05T00:00:00Z")
    body = {"as_of": "2030-01-05T00:00:00Z"}
    with django_capture_on_commit_callbacks(execute=True):
        run = api.post("/api/v1/billing-runs/", body, format="json")
    assert run.status_code == 202
    assert (run.json()["status"], run.json()["progress"]) == ("queued", {"done": 0, "total": 0})
    done = api.get(f"/api/v1/billing-runs/{run.json()['id']}/").json()
    assert (done["status"], done["invoices_created"], done["failures"]) == ("completed", 1, [])
    assert done["progress"] == {"done": 1, "total": 1}
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post("/api/v1/billing-runs/", body, format="json")
    again = api.get(f"/api/v1/billing-runs/{again.json()['id']}/").json()
    assert (again["status"], again["invoices_created"], again["lines_created"]) == (
        "completed",
        0,
        0,
    )
    draft = api.get("/api/v1/invoices/?status=draft").json()["results"][0]
    assert draft["number"] is None
    finalized = api.post(f"/api/v1/invoices/{draft['id']}/finalize/")
    assert finalized.json()["status"] == "open"
    number = finalized.json()["number"]
    paid = api.post(f"/api/v1/invoices/{number}/mark-paid/")
    assert (paid.json()["status"], paid.json()["amount_due"]) == ("paid", "0.00")
    assert api.post(f"/api/v1/invoices/{number}/void/").status_code == 422


def test_billing_run_needs_as_of(api):
    response = api.post("/api/v1/billing-runs/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "as_of"


def test_change_with_preview_then_for_real(api, setup):
    factories.plan(code="max", amount="90.00")
    sub = create(api, start_at="2026-01-01T00:00:00Z").json()
    url = f"/api/v1/subscriptions/{sub['id']}/change/"
    body = {"plan": "max", "at": "2026-01-16T12:00:00Z"}
    preview = api.post(url, {**body, "preview": True}, format="json")
    assert preview.status_code == 200, preview.json()
    assert preview.json()["preview"] is True
    assert preview.json()["plan"] == "pro"  # unchanged
    amounts = [ln["amount"] for ln in preview.json()["proration_lines"]]
    assert amounts == ["-15.48", "46.45"]
    real = api.post(url, body, format="json")
    assert real.json()["plan"] == "max"
    assert [ln["amount"] for ln in real.json()["proration_lines"]] == amounts
    upcoming = api.get(f"/api/v1/subscriptions/{sub['id']}/upcoming-invoice/").json()
    assert [ln["kind"] for ln in upcoming["lines"]][:2] == ["proration", "proration"]


def test_change_errors(api, setup):
    sub = create(api).json()
    url = f"/api/v1/subscriptions/{sub['id']}/change/"
    nothing = api.post(url, {"when": "immediately"}, format="json")
    assert nothing.status_code == 400
    assert nothing.json()["error"]["code"] == "nothing_to_change"
    unknown = api.post(url, {"plan": "ghost"}, format="json")
    assert unknown.json()["error"]["field"] == "plan"
    scheduled = api.post(url, {"quantity": 4, "when": "period_end"}, format="json")
    assert scheduled.json()["scheduled_quantity"] == 4


def test_a_plan_may_forbid_pausing(api, setup):
    sub_id = create(api).json()["id"]
    plan = Subscription.objects.get(pk=sub_id).plan
    response = api.patch(f"/api/v1/plans/{plan.code}/", {"pausable": False}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["pausable"] is False
    refused = api.post(f"/api/v1/subscriptions/{sub_id}/pause/", {}, format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "plan_not_pausable"
    assert Subscription.objects.get(pk=sub_id).status == "active"


def test_a_cancellation_at_period_end_can_be_undone(api, setup):
    sub_id = create(api).json()["id"]
    url = f"/api/v1/subscriptions/{sub_id}/"
    refused = api.post(f"{url}undo-cancel/", {}, format="json")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "no_scheduled_cancellation"
    scheduled = api.post(f"{url}cancel/", {"when": "period_end", "reason": "x"}, format="json")
    assert scheduled.json()["cancel_at_period_end"] is True
    kept = api.post(f"{url}undo-cancel/", {}, format="json")
    assert kept.status_code == 200, kept.json()
    assert kept.json()["cancel_at_period_end"] is False
    assert kept.json()["status"] == "active"


def test_an_invoice_answers_its_payment_reference(api, setup):
    """The RF reference a bank transfer quotes (null on a draft)."""
    create(api, start_at="2026-01-05T00:00:00Z")
    invoice = api.get("/api/v1/invoices/?customer=acme").json()["results"][0]
    assert invoice["payment_reference"] == payment_reference_for(invoice["number"])
    assert invoice["payment_reference"].startswith("RF")
    one = api.get(f"/api/v1/invoices/{invoice['id']}/").json()
    assert one["payment_reference"] == invoice["payment_reference"]
