"""django-q2 entry points of reports: they read the clock and call one service each."""

from django.utils import timezone

from reports.consumer import PAGE, reports_events_consume


def reports_events_consume_task() -> int:
    """Queued on commit of every transaction that records billing events (the fast path)
    and scheduled every minute (the sweep): book, post and keep MRR history."""
    read = 0
    while True:
        page = reports_events_consume(at=timezone.now())
        read += page
        if page < PAGE:
            return read
