"""Cancelling a trial "at the end of the current period" lets it run to the trial's end, then
ends it without billing anything (service and API)."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from billing.invoicing.services.subscription_billing import (
    subscription_advance,
    subscription_cancel,
)
from billing.models import BillingEvent, InvoiceLine, Subscription
from billing.subscriptions.services import subscription_cancel_undo
from billing.tests import factories

pytestmark = pytest.mark.django_db
START = datetime(2027, 3, 10, tzinfo=UTC)
TRIAL_END = datetime(2027, 3, 24, tzinfo=UTC)  # 14 days, UTC customer


@pytest.fixture
def trial():
    customer = factories.customer(external_id="acme")
    plan = factories.plan(code="pro", trial_days=14)
    sub = factories.subscription(customer=customer, plan=plan, at=START)
    assert (sub.status, sub.trial_end_at) == ("trialing", TRIAL_END)
    return sub


def advance(sub, as_of):
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=sub.pk)
        subscription_advance(sub=locked, as_of=as_of)
    sub.refresh_from_db()
    return sub


def test_a_trial_canceled_for_the_period_end_runs_to_the_trials_end(trial):
    sub = subscription_cancel(
        subscription=trial, at=datetime(2027, 3, 12, tzinfo=UTC), when="period_end"
    )
    assert (sub.status, sub.cancel_at_period_end) == ("trialing", True)
    scheduled = BillingEvent.objects.get(kind="subscription.cancel_scheduled")
    assert scheduled.payload["effective_at"] == TRIAL_END.isoformat().replace("+00:00", "Z")

    assert advance(sub, datetime(2027, 3, 23, tzinfo=UTC)).status == "trialing"
    sub = advance(sub, datetime(2027, 3, 25, tzinfo=UTC))
    assert (sub.status, sub.ended_at, sub.cancel_at_period_end) == ("canceled", TRIAL_END, False)
    assert not BillingEvent.objects.filter(kind="subscription.activated").exists()
    assert not InvoiceLine.objects.exists()


def test_a_trials_scheduled_cancellation_can_be_undone(trial):
    subscription_cancel(subscription=trial, at=datetime(2027, 3, 12, tzinfo=UTC))
    sub = subscription_cancel_undo(subscription=trial, at=datetime(2027, 3, 13, tzinfo=UTC))
    assert (sub.status, sub.cancel_at_period_end) == ("trialing", False)
    assert advance(sub, datetime(2027, 3, 25, tzinfo=UTC)).status == "active"


def test_the_api_cancels_a_trial_at_its_end(api, trial):
    response = api.post(
        f"/api/v1/subscriptions/{trial.pk}/cancel/", {"when": "period_end"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["cancel_at_period_end"]) == ("trialing", True)
