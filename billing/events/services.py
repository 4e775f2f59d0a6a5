import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, models, transaction
from django_q.tasks import async_task

from api.models import ApiKey
from billing.events.models import BillingEvent
from customers.models import Customer

Actor = AbstractBaseUser | ApiKey | str | None

logger = logging.getLogger("billing.events")
# Billing's own follow-up of an event, queued when it commits: kind → the dotted path of a
# task called with the event's subject id (registered by the packages above, billing/apps.py).
EVENT_TASKS: dict[str, tuple[str, str]] = {}
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


class RecordedEvent(NamedTuple):
    """What an in-process handler is told of a committed event."""

    id: int
    kind: str
    customer_id: int | None


_handlers: list[tuple[tuple[str, ...], Callable[[RecordedEvent], None]]] = []


def billing_event_handler_register(*, kinds: tuple[str, ...], handler) -> None:
    """Call `handler(RecordedEvent)` in this process right after the commit of each event whose
    kind starts with one of `kinds` (an app above billing registers it in its AppConfig.ready:
    billing never imports it). Not for the events of a buffered batch (bill runs): those wait
    for the consumer tasks. A handler's failure is logged, never raised."""
    if all(registered != handler for _, registered in _handlers):
        _handlers.append((tuple(kinds), handler))


def billing_event_task_register(*, kind: str, task: str, argument: str) -> None:
    """Queue `task(**{argument: subject id})` when an event of `kind` commits (not for a
    duplicate of a dedupe key)."""
    EVENT_TASKS[kind] = (task, argument)


def _handler_run(handler, event: RecordedEvent) -> None:
    try:
        handler(event)
    except Exception:  # the consumer task does it later; never fail the committed change
        logger.exception("in-process handler of billing event #%s failed", event.id)


_held: ContextVar[list | None] = ContextVar("billing_event_handlers_held", default=None)


@contextmanager
def billing_event_handlers_held() -> Iterator[None]:
    """The in-process handlers of events committed inside run on exit, in order, not at each
    commit: a checkout provisions once its first charge's outcome is known."""
    held: list = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        for call in held:
            call()


def _handler_after_commit(handler, event: RecordedEvent) -> None:
    held = _held.get()
    if held is None:
        _handler_run(handler, event)
    else:
        held.append(partial(_handler_run, handler, event))


def _handlers_on_commit(event: BillingEvent) -> None:
    recorded = RecordedEvent(event.pk, event.kind, event.customer_id)
    for kinds, handler in _handlers:
        if event.kind.startswith(kinds):
            transaction.on_commit(partial(_handler_after_commit, handler, recorded), robust=True)


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
    buffered = _buffer.get() if dedupe_key is None else None
    if buffered is not None:
        buffered.append(event)  # saved with its batch; in-process handlers skip bill runs
    elif dedupe_key is None:
        event.save()
    else:
        try:
            with transaction.atomic():
                event.save()
        except IntegrityError:
            if BillingEvent.objects.filter(dedupe_key=dedupe_key).exists():
                return None  # recorded before: no follow-up task or handler either
            raise
    if kind in EVENT_TASKS:
        path, argument = EVENT_TASKS[kind]
        task = partial(async_task, path, **{argument: subject.pk})
        transaction.on_commit(task, robust=True)
    if buffered is None:
        _handlers_on_commit(event)
    return event


def subscription_event_record(kind: str, sub, at: datetime, actor: Actor = None, **payload):
    """A subscription's event, its plan code and new status in the payload."""
    return billing_event_record(
        kind=kind,
        subject=sub,
        at=at,
        actor=actor,
        customer=sub.customer,
        payload={"plan": sub.plan.code, "status": sub.status, **payload},
    )
