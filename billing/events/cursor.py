"""Reading the billing event log behind a consumer's stored cursor.

A consumer (provisioning, reports) keeps a row with `last_event_id` and `pending_ids` and
reads under a lock of that row. Ids are taken in order but may commit out of order: an id
missing between the cursor and the highest id read is kept in `pending_ids` with the time it
was first missed, and read again on each page until it appears or `GAP_WINDOW` has passed
(then its transaction rolled back)."""

from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet

from billing.events.models import BillingEvent

GAP_WINDOW = timedelta(minutes=5)
MAX_PENDING = 1000


def locked(queryset: QuerySet) -> QuerySet:
    """`select_for_update()`; on SQLite (no row locks, deferred transactions) a no-op UPDATE
    first takes the database's write lock, so the read-then-write cannot fail half way with
    "database is locked" when another process writes meanwhile."""
    if connection.vendor == "sqlite":
        pk = queryset.model._meta.pk.attname
        queryset.update(**{pk: F(pk)})
    return queryset.select_for_update()


def cursor_locked(model, consumer: str):
    """The `consumer` row of a cursor `model`, locked (made on the first run)."""
    cursors = model.objects.filter(consumer=consumer)
    cursor = locked(cursors).first()
    if cursor is None:
        try:
            with transaction.atomic():
                model.objects.create(consumer=consumer)
        except IntegrityError:
            pass  # made by a concurrent consumer
        cursor = locked(cursors).get()
    return cursor


def cursor_pending(cursor, at: datetime) -> dict[int, str]:
    """The ids still awaited → when they were first missed (ISO)."""
    pending = {}
    for item in cursor.pending_ids or []:
        if isinstance(item, dict):
            pending[int(item["id"])] = item.get("since") or at.isoformat()
        else:
            pending[int(item)] = at.isoformat()
    return pending


def cursor_unread(cursor, pending: dict[int, str]) -> QuerySet[BillingEvent]:
    """The events after the cursor and the awaited ones, in log order."""
    return BillingEvent.objects.filter(
        Q(pk__gt=cursor.last_event_id) | Q(pk__in=list(pending))
    ).order_by("pk")


def cursor_advance(
    cursor, events: list[BillingEvent], pending: dict[int, str], at: datetime
) -> None:
    """Move the cursor past `events` (handled), remembering the ids skipped on the way; the
    caller saves it in the transaction that handled them."""
    for event in events:
        pending.pop(event.pk, None)
    read = {e.pk for e in events}
    highest = max((e.pk for e in events if e.pk > cursor.last_event_id), default=None)
    if highest is not None:
        # the first run starts at the oldest event there is, not at a gap before it
        first = cursor.last_event_id + 1 if cursor.last_event_id else min(read)
        for missing in range(max(first, highest - MAX_PENDING), highest):
            if missing not in read:
                pending.setdefault(missing, at.isoformat())
        cursor.last_event_id = highest
    expired = at - GAP_WINDOW
    cursor.pending_ids = [
        {"id": pk, "since": since}
        for pk, since in sorted(pending.items())
        if datetime.fromisoformat(since) > expired
    ]
