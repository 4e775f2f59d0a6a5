import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, models, transaction

from api.models import ApiKey
from billing.models import BillingEvent
from customers.models import Customer

Actor = AbstractBaseUser | ApiKey | str | None

logger = logging.getLogger("billing.events")
_buffer: ContextVar[list[BillingEvent] | None] = ContextVar("billing_event_buffer", default=None)


@contextmanager
def billing_events_buffered() -> Iterator[None]:
    """Collect the events recorded inside and insert them at once on exit (for bulk work such
    as a bill run batch). Use it inside the transaction: the events still commit with it."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("billing_events_buffered must be used inside transaction.atomic().")
    events: list[BillingEvent] = []
    token = _buffer.set(events)
    try:
        yield
        BillingEvent.objects.bulk_create(events)
    finally:
        _buffer.reset(token)


def billing_event_consumers_queue() -> None:
    """Queue each consumer task of `settings.BILLING_EVENT_CONSUMERS` (dotted paths, e.g.
    "provisioning.tasks.billing_events_consume_task"): the fast path that lets consumers
    act within seconds instead of at their next sweep. Billing never imports them."""
    from django_q.tasks import async_task

    for path in getattr(settings, "BILLING_EVENT_CONSUMERS", []):
        try:
            async_task(path)
        except Exception:  # the sweep catches up; never fail the committed billing change
            logger.exception("could not queue %s", path)


def _consumers_queue_on_commit() -> None:
    """Once per transaction, however many events it records. The list of commit hooks it was
    added to is remembered, so the next event of a bill run batch does not scan that list
    again (Django starts a new list after a commit or a savepoint rollback)."""
    if not getattr(settings, "BILLING_EVENT_CONSUMERS", []):
        return
    connection = transaction.get_connection()
    hooks = connection.run_on_commit
    if getattr(connection, "billing_consumers_hooks", None) is hooks:
        return
    if not any(entry[1] is billing_event_consumers_queue for entry in hooks):
        transaction.on_commit(billing_event_consumers_queue, robust=True)
    connection.billing_consumers_hooks = connection.run_on_commit


def actor_label(actor: Actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, str):
        return actor
    if isinstance(actor, ApiKey):
        return f"api_key:{actor.pk}:{actor.name}"
    return f"user:{actor.pk}:{actor.get_username()}"


def billing_event_record(
    *,
    kind: str,
    subject: models.Model,
    at: datetime,
    actor: Actor = None,
    customer: Customer | None = None,
    payload: dict | None = None,
    dedupe_key: str | None = None,
) -> BillingEvent | None:
    """Append an event. Must run inside the transaction of the change it describes.

    With `dedupe_key`, a second record of the same key is a no-op and returns None.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("billing_event_record must be called inside transaction.atomic().")
    if at.tzinfo is None:
        raise ValueError("`at` must be timezone-aware.")
    if customer is None and isinstance(subject, Customer):
        customer = subject
    event = BillingEvent(
        kind=kind,
        occurred_at=at,
        customer=customer if customer is not None else getattr(subject, "customer", None),
        subject_type=subject._meta.label_lower,
        subject_id=str(subject.pk),
        actor=actor_label(actor)[:200],
        payload=payload or {},
        dedupe_key=dedupe_key,
    )
    _consumers_queue_on_commit()
    if dedupe_key is None:
        buffered = _buffer.get()
        if buffered is None:
            event.save()
        else:
            buffered.append(event)
        return event
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        if BillingEvent.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise
    return event
