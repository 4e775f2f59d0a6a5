"""In-process handlers of committed billing events (provisioning registers one): called after
the commit for the kinds they asked for, never for a buffered batch (bill runs), and a
failing one never fails the billing change."""

import pytest
from django.db import transaction

from billing.events import services as billing_events
from billing.events.services import (
    RecordedEvent,
    billing_event_handler_register,
    billing_event_record,
    billing_events_buffered,
)
from billing.tests import factories
from billing.tests.payment_helpers import AT

pytestmark = pytest.mark.django_db


@pytest.fixture
def seen(monkeypatch):
    monkeypatch.setattr(billing_events, "_handlers", [])
    calls: list[RecordedEvent] = []
    billing_event_handler_register(kinds=("subscription.",), handler=calls.append)
    billing_event_handler_register(kinds=("subscription.",), handler=calls.append)  # once
    return calls


def record(customer, kind):
    return billing_event_record(kind=kind, subject=customer, at=AT)


def test_a_handler_runs_after_the_commit_for_its_kinds(seen, django_capture_on_commit_callbacks):
    customer = factories.customer()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            event = record(customer, "subscription.activated")
            record(customer, "invoice.finalized")
            assert seen == []
    assert seen == [RecordedEvent(event.pk, "subscription.activated", customer.pk)]


def test_a_rolled_back_event_is_not_handled(seen, django_capture_on_commit_callbacks):
    customer = factories.customer()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record(customer, "subscription.activated")
                    raise RuntimeError("rolled back")
            except RuntimeError:
                pass
    assert seen == []


def test_buffered_events_are_left_to_the_consumers(seen, django_capture_on_commit_callbacks):
    customer = factories.customer()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic(), billing_events_buffered():
            record(customer, "subscription.renewed")
    assert seen == []


def test_a_failing_handler_is_logged_not_raised(
    monkeypatch, django_capture_on_commit_callbacks, caplog
):
    monkeypatch.setattr(billing_events, "_handlers", [])

    def broken(event):
        raise RuntimeError("provisioning is down")

    billing_event_handler_register(kinds=("subscription.",), handler=broken)
    customer = factories.customer()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            record(customer, "subscription.paused")
    assert "in-process handler of billing event" in caplog.text
