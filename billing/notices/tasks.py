"""django-q2 entry points of the customer notices: they read the clock and call one service."""

from django.utils import timezone

from billing.notices.services import notices_events_consume_all, notices_scheduled_send


def notices_events_consume_task() -> int:
    """Queued on commit of every transaction that records billing events
    (settings.BILLING_EVENT_CONSUMERS) and scheduled every few minutes (the sweep)."""
    return notices_events_consume_all(at=timezone.now())


def notices_scheduled_send_task() -> dict[str, int]:
    """Hourly: trial ending and yearly renewal notices."""
    return notices_scheduled_send(at=timezone.now())
