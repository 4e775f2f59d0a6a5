"""Rebuilding the reports' tables from billing's records (`manage.py reports_rebuild`).

Schedules, journal entries, MRR history and the cursor are dropped and the billing event log
is read again from its start. Closed months stay closed: the log is read up to the event
each close was made after, that month's recognition and usage accrual (kept: it measured
usage not yet invoiced at the time, which billing's records no longer show) are posted as
they were, then reading goes on. A rebuild gives the tables a live run gave, except that
recognition posted on demand in a month still open comes back as one entry per invoice."""

from datetime import datetime

from django.db import transaction

from reports.consumer import CONSUMER, reports_events_consume_all
from reports.ledger.closing import accrual_post, recognition_post
from reports.ledger.models import JournalEntry, MonthClose
from reports.metrics.history import mrr_rebuild_all
from reports.models import EventCursor
from reports.revenue.models import RevenueSchedule, UsageAccrual


@transaction.atomic
def reports_rebuild(*, at: datetime) -> int:
    """Drop and rebuild; the last event id read."""
    EventCursor.objects.filter(consumer=CONSUMER).delete()
    JournalEntry.objects.all().delete()
    RevenueSchedule.objects.all().delete()
    closes = list(MonthClose.objects.order_by("month"))
    UsageAccrual.objects.exclude(month__in=[close.month for close in closes]).delete()
    for close in closes:
        reports_events_consume_all(at=close.closed_at, until=close.after_event, mrr=False)
        recognition_post(through=close.month, at=close.closed_at, closing=True)
        accrual_post(UsageAccrual.objects.filter(month=close.month), at=close.closed_at)
    last = reports_events_consume_all(at=at, mrr=False)
    mrr_rebuild_all(at=at)
    return last
