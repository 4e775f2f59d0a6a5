"""The notices consumer's place in the billing event log (see billing.events.cursor)."""

from django.db import models


class NoticeEventCursor(models.Model):
    """How far the customer notices consumer (billing.notices.consumer) has read the billing
    event log. Made by its migration at the end of the log, so that an upgrade mails nothing
    about events that happened before."""

    consumer = models.CharField(max_length=50, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    pending_ids = models.JSONField(default=list, blank=True)
    failed = models.JSONField(
        default=list, blank=True, help_text="Events whose notice failed: {id, error}."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "notice event cursor"

    def __str__(self) -> str:
        return f"{self.consumer} at #{self.last_event_id}"
