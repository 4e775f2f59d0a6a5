"""Reading the billing event log."""

from django.db.models import QuerySet

from billing.events.models import BillingEvent


def billing_event_list(
    *, after_id: int = 0, kinds: list[str] | None = None
) -> QuerySet[BillingEvent]:
    """Events after a consumer's cursor, in log order."""
    events = BillingEvent.objects.filter(id__gt=after_id).order_by("id")
    if kinds:
        events = events.filter(kind__in=kinds)
    return events
