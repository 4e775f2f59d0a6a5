"""The reports' own tables, derived from billing's records (never written by billing):
the consumer's cursor, recognition schedules, the journal and MRR history."""

from django.db import models

from reports.ledger.models import (
    AccountRole,
    EntryKind,
    JournalEntry,
    JournalLine,
    LedgerAccount,
    MonthClose,
)
from reports.metrics.models import MrrSegment
from reports.revenue.models import RecognitionLine, RevenueReversal, RevenueSchedule, UsageAccrual


class EventCursor(models.Model):
    """How far the reports' consumer has read the billing event log (see
    billing.events.cursor for `pending_ids`)."""

    consumer = models.CharField(max_length=50, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    pending_ids = models.JSONField(default=list, blank=True)
    failed = models.JSONField(
        default=list, blank=True, help_text="Events whose handling failed: {id, error}."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.consumer} at #{self.last_event_id}"


__all__ = [
    "AccountRole",
    "EntryKind",
    "EventCursor",
    "JournalEntry",
    "JournalLine",
    "LedgerAccount",
    "MonthClose",
    "MrrSegment",
    "RecognitionLine",
    "RevenueReversal",
    "RevenueSchedule",
    "UsageAccrual",
]
