"""Orders and the fulfillment DAG runner.

`order_run` starts an order once every earlier order of its customer is finished, then runs
each ready step (pending, or due for a retry, with every dependency succeeded or skipped).
A step is claimed under a row lock (→ running, attempts + 1) in a short transaction; a
database step then runs in the transaction that records its outcome, an external one
(`call_http`, `send_email`) outside any transaction with the step's idempotency key. A
running external step whose worker died is taken over once it is older than its timeout
plus `STALE_MARGIN`. A failure is retried after 30 s × 2^(attempts − 1); after
`MAX_ATTEMPTS` the order fails for an operator, who can retry, skip, approve or abandon
(compensation undoes the succeeded steps in reverse order)."""

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django_fsm import TransitionNotAllowed

from api.errors import StateError
from billing.events.cursor import locked
from billing.events.services import Actor, actor_label
from billing.models import BillingEvent, Subscription
from customers.models import Customer
from provisioning.models import (
    CustomerAccess,
    FulfillmentStep,
    Order,
    OrderKind,
    OrderStatus,
    StepStatus,
)
from provisioning.services.steps import STEP_TYPES, StepWait
from provisioning.services.workflows import workflow_for

logger = logging.getLogger("provisioning.orders")

MAX_ATTEMPTS = 5
BACKOFF = timedelta(seconds=30)
STALE_MARGIN = timedelta(seconds=5)
OPEN = [OrderStatus.RECEIVED, OrderStatus.IN_PROGRESS]
UNFINISHED = [*OPEN, OrderStatus.FAILED]
DONE_STEPS = [StepStatus.SUCCEEDED, StepStatus.SKIPPED]


def order_create(
    *,
    customer: Customer,
    kind: str,
    at: datetime,
    source_event: BillingEvent | None = None,
    subscription: Subscription | None = None,
    payload: dict | None = None,
) -> Order | None:
    """A new order with the steps of its workflow; None when the event already has an order
    of this kind (each event is fulfilled once)."""
    product = subscription.plan.product if subscription is not None else None
    steps = workflow_for(kind=kind, product=product)
    if source_event is not None and Order.objects.filter(source_event=source_event, kind=kind):
        return None
    try:
        with transaction.atomic():
            order = Order.objects.create(
                customer=customer,
                kind=kind,
                source_event=source_event,
                subscription_id=subscription.pk if subscription else None,
                payload=payload or {},
                created_at=at,
            )
            FulfillmentStep.objects.bulk_create(
                FulfillmentStep(
                    order=order,
                    key=s["key"],
                    step_type=s["type"],
                    depends_on=s["depends_on"],
                    config=s["config"],
                )
                for s in steps
            )
    except IntegrityError:
        return None
    logger.info("order %s %s created for customer %s", order.pk, kind, customer.pk)
    return order


def _stale(step: FulfillmentStep, at: datetime) -> bool:
    timeout = timedelta(seconds=float(step.config.get("timeout", 10)))
    return step.started_at is not None and step.started_at + timeout + STALE_MARGIN <= at


def step_ready(step: FulfillmentStep, done_keys: set[str], at: datetime) -> bool:
    if not set(step.depends_on) <= done_keys:
        return False
    due = step.next_attempt_at is None or step.next_attempt_at <= at
    if step.status == StepStatus.PENDING:
        return due
    if step.status == StepStatus.WAITING:
        return step.next_attempt_at is not None and due
    if step.status == StepStatus.FAILED:
        return step.attempts < MAX_ATTEMPTS and step.next_attempt_at is not None and due
    if step.status == StepStatus.RUNNING:
        return STEP_TYPES[step.step_type].external and _stale(step, at)
    return False


def _done_keys(order_id: int) -> set[str]:
    steps = FulfillmentStep.objects.filter(order_id=order_id, status__in=DONE_STEPS)
    return set(steps.values_list("key", flat=True))


def _claim(step_id: int, at: datetime) -> FulfillmentStep | None:
    """Lock the step and move it to running, if it is (still) ready."""
    step = locked(FulfillmentStep.objects.filter(pk=step_id)).select_related("order").get()
    if step.order.status != OrderStatus.IN_PROGRESS:
        return None
    if not step_ready(step, _done_keys(step.order_id), at):
        return None
    if step.status == StepStatus.RUNNING:  # its worker died: count that attempt as failed
        step.fail(error="The worker running it was lost.", retry_at=at)
    step.run(at=at)
    step.save()
    return step


def _outcome(step: FulfillmentStep, at: datetime, *, result=None, error=None) -> None:
    """Record what the step's run gave (`step` is locked and running)."""
    if isinstance(error, StepWait):
        step.wait(reason=error.reason)
        step.attempts -= 1  # waiting is not a failed attempt
        step.next_attempt_at = error.retry_at
        logger.info("step %s waiting: %s", step, error.reason)
    elif error is not None:
        retry = at + BACKOFF * 2 ** (step.attempts - 1) if step.attempts < MAX_ATTEMPTS else None
        step.fail(error=f"{error.__class__.__name__}: {error}"[:2000], retry_at=retry)
        logger.warning("step %s failed (attempt %s): %s", step, step.attempts, error)
    else:
        step.next_attempt_at = None
        step.succeed(at=at, result=result or {})
        logger.info("step %s succeeded", step)
    step.save()


def step_execute(*, step_id: int, at: datetime) -> bool:
    """Run one step if it is ready; True when it ran (whatever the outcome)."""
    step_type = STEP_TYPES[
        FulfillmentStep.objects.values_list("step_type", flat=True).get(pk=step_id)
    ]
    if not step_type.external:
        with transaction.atomic():
            step = _claim(step_id, at)
            if step is None:
                return False
            try:
                with transaction.atomic():
                    result, error = step_type.run(step, at), None
            except Exception as exc:  # noqa: BLE001 - any failure is the step's outcome
                result, error = None, exc
            _outcome(step, at, result=result, error=error)
        return True
    with transaction.atomic():
        step = _claim(step_id, at)
        if step is None:
            return False
    attempt = step.attempts
    try:
        result, error = step_type.run(step, at), None
    except Exception as exc:  # noqa: BLE001
        result, error = None, exc
    with transaction.atomic():
        step = locked(FulfillmentStep.objects.filter(pk=step_id)).get()
        if step.status != StepStatus.RUNNING or step.attempts != attempt:
            return True  # taken over meanwhile: that run records its own outcome
        _outcome(step, at, result=result, error=error)
    return True


INLINE_TYPES = [key for key, step_type in STEP_TYPES.items() if step_type.inline]


def _earlier_unfinished(order: Order, inline: bool = False) -> bool:
    """Whether an earlier order of the customer is unfinished (`inline`: has a database step
    not done; its outside calls may still be to come)."""
    earlier = Order.objects.filter(customer_id=order.customer_id, status__in=UNFINISHED).filter(
        Q(created_at__lt=order.created_at) | Q(created_at=order.created_at, pk__lt=order.pk)
    )
    if not inline:
        return earlier.exists()
    if earlier.filter(status=OrderStatus.FAILED).exists():
        return True
    steps = FulfillmentStep.objects.filter(order__in=earlier, step_type__in=INLINE_TYPES)
    return steps.exclude(status__in=DONE_STEPS).exists()


@transaction.atomic
def _order_start(order_id: int, at: datetime, inline: bool = False) -> Order:
    order = locked(Order.objects.filter(pk=order_id)).get()
    if order.status == OrderStatus.RECEIVED and not _earlier_unfinished(order, inline):
        order.start(at=at)
        order.save()
        logger.info("order %s started", order.pk)
    return order


@transaction.atomic
def _order_settle(order_id: int, at: datetime) -> Order:
    order = locked(Order.objects.filter(pk=order_id)).get()
    if order.status != OrderStatus.IN_PROGRESS:
        return order
    steps = list(order.steps.all())
    given_up = [s for s in steps if s.status == StepStatus.FAILED and s.next_attempt_at is None]
    if all(s.status in DONE_STEPS for s in steps):
        order.complete(at=at)
        logger.info("order %s completed", order.pk)
    elif given_up:
        errors = "; ".join(f"{s.key}: {s.last_error}" for s in given_up)
        order.fail(at=at, error=errors[:4000])
        logger.warning("order %s failed: %s", order.pk, errors)
    else:
        return order
    order.save()
    return order


def order_run(*, order: Order, at: datetime, inline: bool = False) -> Order:
    """Run every step of the order that can run now; complete or fail it when that is
    decided. Safe to call concurrently and repeatedly. `inline` (right after a billing change,
    in its process): only the steps of `INLINE_TYPES`, and the order starts once the earlier
    orders' such steps are done; the rest is left to the worker."""
    order = _order_start(order.pk, at, inline)
    if order.status != OrderStatus.IN_PROGRESS:
        return order
    for _ in range(50):
        done = _done_keys(order.pk)
        steps = FulfillmentStep.objects.filter(order=order).exclude(status__in=DONE_STEPS)
        if inline:
            steps = steps.filter(step_type__in=INLINE_TYPES)
        ready = [s.pk for s in steps.order_by("pk") if step_ready(s, done, at)]
        ran = [step_execute(step_id=pk, at=at) for pk in ready]
        if not any(ran):
            break
    return _order_settle(order.pk, at)


def orders_run_due(*, at: datetime, limit: int = 200) -> int:
    """Run the open orders (oldest first); the number looked at."""
    ids = list(Order.objects.filter(status__in=OPEN).order_by("created_at", "pk")[:limit])
    for order in ids:
        order_run(order=order, at=at)
    return len(ids)


def _locked_order(order: Order, statuses) -> Order:
    order = locked(Order.objects.filter(pk=order.pk)).get()
    if order.status not in statuses:
        raise StateError(f"The order is {order.status}.", code=f"order_{order.status}")
    return order


def _reopen(order: Order, at: datetime) -> None:
    if order.status == OrderStatus.FAILED:
        order.start(at=at)
        order.save()


def order_retry(*, order: Order, at: datetime, actor: Actor = None) -> Order:
    """Give the failed steps of a failed (or stuck) order new attempts now and run it."""
    with transaction.atomic():
        order = _locked_order(order, UNFINISHED)
        for step in order.steps.select_for_update().filter(status=StepStatus.FAILED):
            step.attempts, step.next_attempt_at = 0, at
            step.save()
        _reopen(order, at)
        logger.info("order %s retried by %s", order.pk, actor_label(actor))
    return order_run(order=order, at=at)


def step_retry(*, step: FulfillmentStep, at: datetime, actor: Actor = None) -> Order:
    with transaction.atomic():
        order = _locked_order(Order(pk=step.order_id), UNFINISHED)
        step = locked(FulfillmentStep.objects.filter(pk=step.pk)).get()
        if step.status not in (StepStatus.FAILED, StepStatus.WAITING):
            raise TransitionNotAllowed(f"A {step.status} step is not retried.")
        step.attempts, step.next_attempt_at = 0, at
        step.save()
        _reopen(order, at)
    return order_run(order=order, at=at)


def step_skip(*, step: FulfillmentStep, at: datetime, actor: Actor = None) -> Order:
    """An operator skips a step (pending, waiting or failed): its dependents may run."""
    with transaction.atomic():
        order = _locked_order(Order(pk=step.order_id), UNFINISHED)
        step = locked(FulfillmentStep.objects.filter(pk=step.pk)).get()
        step.skip(at=at)
        step.result = {**step.result, "skipped_by": actor_label(actor)}
        step.save()
        _reopen(order, at)
        logger.info("step %s skipped by %s", step, actor_label(actor))
    return order_run(order=order, at=at)


def step_approve(*, step: FulfillmentStep, at: datetime, actor: Actor = None) -> Order:
    """Approve a waiting `manual_approval` step; the order goes on."""
    with transaction.atomic():
        order = _locked_order(Order(pk=step.order_id), OPEN)
        step = locked(FulfillmentStep.objects.filter(pk=step.pk)).get()
        if step.step_type != "manual_approval":
            raise StateError("Only a manual approval step is approved.", code="not_approval")
        step.approve()
        step.result = {"approved_by": actor_label(actor), "approved_at": at.isoformat()}
        step.next_attempt_at = None
        step.save()
        logger.info("step %s approved by %s", step, actor_label(actor))
    return order_run(order=order, at=at)


def order_abandon(*, order: Order, at: datetime, actor: Actor = None) -> Order:
    """Undo the succeeded steps, the last done first, then mark the order compensated. A
    step whose undo fails stops it (the order keeps its state and error; abandon again)."""
    with transaction.atomic():
        order = _locked_order(order, UNFINISHED)
    done = order.steps.filter(status=StepStatus.SUCCEEDED).order_by("-finished_at", "-pk")
    for step_id in list(done.values_list("pk", flat=True)):
        with transaction.atomic():
            step = locked(FulfillmentStep.objects.filter(pk=step_id)).select_related("order").get()
            if step.status != StepStatus.SUCCEEDED:
                continue
            try:
                with transaction.atomic():
                    STEP_TYPES[step.step_type].undo(step, at)
            except Exception as exc:  # noqa: BLE001 - reported on the order
                Order.objects.filter(pk=order.pk).update(error=f"Undo of {step.key}: {exc}")
                logger.warning("undo of step %s failed: %s", step, exc)
                return Order.objects.get(pk=order.pk)
            step.undo(at=at)
            step.save()
    with transaction.atomic():
        order = _locked_order(order, UNFINISHED)
        order.compensate(at=at)
        order.error = f"Abandoned by {actor_label(actor)}."
        order.save()
    logger.info("order %s compensated by %s", order.pk, actor_label(actor))
    return order


def deprovision_due(*, at: datetime) -> int:
    """Deprovision every customer whose grace period is over; the number of orders run."""
    due = CustomerAccess.objects.filter(deprovision_at__lte=at).exclude(status="deprovisioned")
    count = 0
    for access in due.select_related("customer").order_by("deprovision_at", "pk"):
        order = Order.objects.filter(
            customer=access.customer, kind=OrderKind.DEPROVISION, status__in=UNFINISHED
        ).first() or order_create(customer=access.customer, kind=OrderKind.DEPROVISION, at=at)
        order_run(order=order, at=at)
        count += 1
    return count
