"""Reading the billing event log: a stored cursor per consumer."""

from django.db import models


class EventCursor(models.Model):
    """How far a consumer has read the billing event log. Events are read in id order; ids
    of transactions still open when a page was read are kept in `pending_ids` and read
    again (ids are taken in order but may commit out of order)."""

    consumer = models.CharField(max_length=50, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    pending_ids = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.consumer} at #{self.last_event_id}"
