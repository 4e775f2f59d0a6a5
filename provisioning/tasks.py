"""django-q2 entry points of provisioning: they read the clock and call one service each."""

from django.conf import settings
from django.utils import timezone

from billing.events.services import RecordedEvent
from provisioning.services.orders import deprovision_due, orders_run_due
from provisioning.services.overrides import entitlement_overrides_expire
from provisioning.services.sync import billing_event_apply, billing_events_consume


def billing_events_consume_task() -> int:
    """Queued on commit of every transaction that records billing events (the fast path)
    and scheduled every minute (the sweep): read the log, then run the open orders."""
    read = 0
    while True:
        page = billing_events_consume(at=timezone.now())
        read += page
        if page < 500:
            break
    orders_run_due(at=timezone.now())
    return read


def orders_run_due_task() -> int:
    """Every minute: steps due for a retry, waiting on a prerequisite, or lost by a worker."""
    return orders_run_due(at=timezone.now())


def deprovision_due_task() -> int:
    """Every minute: customers whose grace period after a cancel is over."""
    return deprovision_due(at=timezone.now())


def overrides_expire_task() -> int:
    """Re-sync customers whose entitlement overrides started or ended."""
    return entitlement_overrides_expire(at=timezone.now())


def billing_event_on_commit(event: RecordedEvent) -> None:
    """Registered with billing (see `apps`): a subscription change is provisioned in the
    process that made it, right after its commit (`PROVISIONING_SYNC_ON_COMMIT`)."""
    if getattr(settings, "PROVISIONING_SYNC_ON_COMMIT", True):
        billing_event_apply(event_id=event.id, at=timezone.now())
