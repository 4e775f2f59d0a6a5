from datetime import UTC, datetime

import pytest
from django.db import DatabaseError, connection, transaction

from api.services import api_key_create
from billing.events.models import AppendOnlyError
from billing.events.selectors import billing_event_list
from billing.events.services import billing_event_record
from billing.models import BillingEvent
from customers.services import customer_create

pytestmark = pytest.mark.django_db
AT = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)


@pytest.fixture
def customer():
    return customer_create(external_id="c1", name="C", email="c@example.com", currency="USD")


def test_record_in_transaction(customer):
    key, _ = api_key_create(name="crm", scopes=["write"])
    with transaction.atomic():
        event = billing_event_record(
            kind="customer.created", subject=customer, at=AT, actor=key, payload={"amount": "1.50"}
        )
    stored = BillingEvent.objects.get(pk=event.pk)
    assert (stored.kind, stored.customer, stored.subject_type, stored.subject_id) == (
        "customer.created",
        customer,
        "customers.customer",
        str(customer.pk),
    )
    assert stored.occurred_at == AT
    assert stored.actor == f"api_key:{key.pk}:crm"
    assert stored.payload == {"amount": "1.50"}


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_is_refused(customer):
    with pytest.raises(RuntimeError, match="inside transaction"):
        billing_event_record(kind="x", subject=customer, at=AT)


def test_naive_time_refused(customer):
    with transaction.atomic(), pytest.raises(ValueError, match="timezone-aware"):
        billing_event_record(kind="x", subject=customer, at=datetime(2026, 1, 1))  # noqa: DTZ001


def test_rolled_back_with_the_change(customer):
    def change_then_fail():
        with transaction.atomic():
            billing_event_record(kind="x", subject=customer, at=AT)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        change_then_fail()
    assert not BillingEvent.objects.exists()


def test_dedupe_key_records_once(customer):
    with transaction.atomic():
        first = billing_event_record(
            kind="usage.threshold_reached", subject=customer, at=AT, dedupe_key="t:1:2026-01"
        )
        second = billing_event_record(
            kind="usage.threshold_reached", subject=customer, at=AT, dedupe_key="t:1:2026-01"
        )
    assert first is not None
    assert second is None
    assert BillingEvent.objects.count() == 1


def test_append_only_in_python(customer):
    with transaction.atomic():
        event = billing_event_record(kind="x", subject=customer, at=AT)
    event.kind = "y"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


def test_append_only_in_postgres(postgres_only, customer):
    with transaction.atomic():
        billing_event_record(kind="x", subject=customer, at=AT)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        BillingEvent.objects.update(kind="y")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM billing_billingevent")
    assert BillingEvent.objects.get().kind == "x"


def test_list_after_cursor(customer):
    with transaction.atomic():
        ids = [billing_event_record(kind=k, subject=customer, at=AT).pk for k in "abc"]
    assert [e.kind for e in billing_event_list(after_id=ids[0])] == ["b", "c"]
    assert [e.kind for e in billing_event_list(kinds=["c"])] == ["c"]


def test_consumers_are_queued_again_after_a_savepoint_rollback_drops_the_hook(
    settings, django_capture_on_commit_callbacks
):
    from billing.events.services import billing_event_consumers_queue

    settings.BILLING_EVENT_CONSUMERS = ["provisioning.tasks.billing_events_consume_task"]
    customer = customer_create(
        external_id="hooks", name="Hooks", email="h@example.com", currency="USD"
    )
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    billing_event_record(kind="customer.noted", subject=customer, at=AT)
                    raise DatabaseError("roll back the savepoint")
            except DatabaseError:
                pass
            billing_event_record(kind="customer.noted", subject=customer, at=AT)
            billing_event_record(kind="customer.noted", subject=customer, at=AT)
    assert [c for c in callbacks if c is billing_event_consumers_queue] == [
        billing_event_consumers_queue
    ]
