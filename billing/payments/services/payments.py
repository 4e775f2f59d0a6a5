"""Collecting an invoice through the gateways: routing, fraud checks, failover, the payment
state machine, and resolving outcomes nobody heard (the janitor) or that arrive later
(webhooks, 3-D Secure).

No gateway call happens inside a transaction or under a lock. Each call is an attempt row,
committed as STARTED before the call with an idempotency key derived from it; the outcome
is recorded after. A call with no answer leaves the payment `unknown`, and only asking the
gateway about that key resolves it, never charging again. At most one payment per invoice
is in flight (a partial unique constraint), so concurrent requests cannot both charge.

Lock order: the invoice, then the payment, then the customer (balance).
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from api.errors import Conflict, DomainError, StateError
from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.payments import hooks
from billing.payments.gateways import adapter_for
from billing.payments.gateways.base import ChargeRequest, ChargeResult, GatewayError, Outcome
from billing.payments.models.payments import (
    AttemptStatus,
    Gateway,
    Payment,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodStatus,
    PaymentSource,
    PaymentStatus,
    RoutingRule,
)
from billing.payments.services.allocations import (
    allocate_locked,
)
from billing.payments.services.fraud import fraud_check
from billing.payments.services.incomplete import subscriptions_first_charge_failed
from catalog.money import format_amount

logger = logging.getLogger(__name__)
P = PaymentStatus
A = AttemptStatus
ATTEMPT_STATUS = {
    Outcome.SUCCEEDED: A.SUCCEEDED,
    Outcome.DECLINED: A.DECLINED,
    Outcome.REQUIRES_ACTION: A.REQUIRES_ACTION,
    Outcome.PROCESSING: A.PROCESSING,
    Outcome.UNKNOWN: A.UNKNOWN,
    Outcome.ERROR: A.ERROR,
}


# Routing
def _rule_matches(rule: RoutingRule, payment: Payment) -> bool:
    return (
        (not rule.currency or rule.currency == payment.currency)
        and (not rule.method_kind or rule.method_kind == payment.kind)
        and (rule.customer_id is None or rule.customer_id == payment.customer_id)
        and (rule.min_amount is None or payment.amount >= rule.min_amount)
        and (rule.max_amount is None or payment.amount <= rule.max_amount)
    )


def payment_route(payment: Payment) -> list[Gateway]:
    """The gateways to try for a payment, in order: the first matching routing rule's list
    (else every active gateway by priority), keeping those that can charge its method."""
    active = {g.code: g for g in Gateway.objects.filter(active=True)}
    rule = next(
        (r for r in RoutingRule.objects.filter(active=True) if _rule_matches(r, payment)), None
    )
    if rule is not None:
        ordered = [active[code] for code in rule.gateways if code in active]
    else:
        ordered = sorted(active.values(), key=lambda g: (g.priority, g.code))
    eligible = []
    for gateway in ordered:
        if gateway.vault != payment.method.vault or not gateway.accepts(
            currency=payment.currency, kind=payment.kind
        ):
            continue
        adapter = adapter_for(gateway)
        if adapter.charges and adapter.available():
            eligible.append(gateway)
    return eligible


# Recording (each in its own short transaction)
def _event(kind: str, payment: Payment, at: datetime, actor: Actor, **payload) -> None:
    billing_event_record(
        kind=kind,
        subject=payment,
        at=at,
        actor=actor,
        payload={
            "invoice": payment.invoice_id,
            "amount": format_amount(payment.amount, payment.currency),
            "currency": payment.currency,
            **payload,
        },
    )


def _default_method(customer_id: int) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(
        customer_id=customer_id, is_default=True, status=PaymentMethodStatus.ACTIVE
    ).first()


@transaction.atomic
def _payment_open(
    *, invoice: Invoice, at: datetime, source: str, method: PaymentMethod | None, actor: Actor
) -> Payment:
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != InvoiceStatus.OPEN:
        raise StateError(
            f"Invoice {invoice} is {invoice.status}; only open invoices are paid.",
            code="invoice_not_open",
        )
    if invoice.amount_due <= 0:
        raise StateError(f"Invoice {invoice} has nothing left to pay.", code="nothing_due")
    automatic = Payment.objects.filter(invoice=invoice, source=PaymentSource.AUTOMATIC)
    if source == PaymentSource.AUTOMATIC and automatic.exists():
        # collected once (a checkout, then its queued task): retries are dunning's
        raise StateError(f"Invoice {invoice} was charged already.", code="already_attempted")
    in_flight = Payment.objects.select_for_update().filter(
        invoice=invoice, status__in=[P.PENDING, P.REVIEW, P.REQUIRES_ACTION, P.UNKNOWN]
    )
    for payment in in_flight:
        if payment.status != P.REQUIRES_ACTION:
            raise Conflict(
                f"Payment #{payment.pk} for this invoice is {payment.status}; wait for it.",
                code="payment_in_progress",
            )
        # The customer never authenticated: a new payment replaces it.
        payment.fail(at=at, code="superseded", message="Replaced by a new payment.")
        payment.save()
        _event("payment.failed", payment, at, actor, code="superseded")
    method = method or _default_method(invoice.customer_id)
    if method is None:
        raise DomainError(
            "The customer has no default payment method; give `payment_method`.",
            code="no_payment_method",
            field="payment_method",
        )
    if method.customer_id != invoice.customer_id or method.status != PaymentMethodStatus.ACTIVE:
        raise DomainError(
            "That payment method is not an active method of the invoice's customer.",
            code="invalid_payment_method",
            field="payment_method",
        )
    payment = Payment.objects.create(
        customer_id=invoice.customer_id,
        invoice=invoice,
        currency=invoice.currency,
        amount=invoice.amount_due,
        source=source,
        method=method,
        kind=method.kind,
        description=f"Invoice {invoice.number}",
        created_at=at,
    )
    _event("payment.created", payment, at, actor, source=source)
    verdict = fraud_check(
        customer=invoice.customer,
        method=method,
        amount=payment.amount,
        currency=payment.currency,
        at=at,
    )
    if verdict is not None:
        PaymentAttempt.objects.create(
            payment=payment,
            number=1,
            status=A.BLOCKED,
            idempotency_key=_attempt_key(payment, 1),
            code=verdict.rule,
            message=verdict.reason,
            started_at=at,
            finished_at=at,
        )
        payment.hold_for_review(reason=verdict.reason)
        payment.save()
        _event("payment.review", payment, at, actor, rule=verdict.rule, reason=verdict.reason)
    return payment


def _attempt_key(payment: Payment, number: int) -> str:
    return f"{settings.PAYMENT_IDEMPOTENCY_PREFIX}pay_{payment.pk}_attempt_{number}"


@transaction.atomic
def _attempt_start(*, payment: Payment, gateway: Gateway, at: datetime) -> PaymentAttempt | None:
    """Record the intent to call `gateway` (STARTED) and commit it before the call. None when
    the payment is no longer pending (someone else moved it)."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status != P.PENDING:
        return None
    number = (payment.attempts.order_by("-number").values_list("number", flat=True).first()) or 0
    return PaymentAttempt.objects.create(
        payment=payment,
        number=number + 1,
        gateway=gateway,
        status=A.STARTED,
        idempotency_key=_attempt_key(payment, number + 1),
        started_at=at,
    )


def _call(gateway: Gateway, payment: Payment, attempt: PaymentAttempt) -> ChargeResult:
    request = ChargeRequest(
        idempotency_key=attempt.idempotency_key,
        amount=payment.amount,
        currency=payment.currency,
        method_token=payment.method.token,
        method_kind=payment.kind,
        gateway_customer_id=payment.method.gateway_customer_id,
        description=payment.description,
        metadata={"payment": str(payment.pk), "invoice": str(payment.invoice_id or "")},
    )
    try:
        return adapter_for(gateway).charge(request)
    except GatewayError as error:
        return ChargeResult(Outcome.ERROR, code=error.code, message=error.message)
    except Exception:  # noqa: BLE001 - we cannot know whether it charged: ask later
        logger.exception("Gateway %s raised during attempt %s", gateway, attempt.idempotency_key)
        return ChargeResult(Outcome.UNKNOWN, code="adapter_exception", message="No answer.")


def _attempt_record(attempt: PaymentAttempt, result: ChargeResult, at: datetime) -> None:
    attempt.status = ATTEMPT_STATUS.get(result.outcome, attempt.status)
    attempt.gateway_reference = result.reference or attempt.gateway_reference
    attempt.code, attempt.message = result.code[:60], result.message[:500]
    attempt.risk_level = result.risk_level or attempt.risk_level
    attempt.response = result.raw
    if result.outcome not in (Outcome.UNKNOWN, Outcome.PROCESSING, Outcome.REQUIRES_ACTION):
        attempt.finished_at = at
    attempt.save()


def _apply_outcome(
    *, payment: Payment, attempt: PaymentAttempt, result: ChargeResult, at: datetime, actor: Actor
) -> None:
    """Move the locked payment by a gateway outcome (not ERROR: the caller fails over)."""
    payment.gateway_id = attempt.gateway_id
    payment.gateway_reference = result.reference or payment.gateway_reference
    if result.risk_level and payment.method_id:
        PaymentMethod.objects.filter(pk=payment.method_id).update(risk_level=result.risk_level)
    if result.outcome == Outcome.SUCCEEDED:
        payment.succeed(at=at, reference=result.reference)
        payment.save()
        _event("payment.succeeded", payment, at, actor, gateway=attempt.gateway.code)
        invoices = [payment.invoice] if payment.invoice_id else []
        allocate_locked(payment=payment, invoices=invoices, at=at, actor=actor)
    elif result.outcome == Outcome.DECLINED:
        payment.fail(at=at, code=result.code or "declined", message=result.message)
        payment.save()
        _event("payment.failed", payment, at, actor, code=payment.failure_code)
        if payment.invoice_id:
            hooks.payment_failed.send(
                sender=Payment, invoice=payment.invoice, payment=payment, at=at, actor=actor
            )
    elif result.outcome == Outcome.REQUIRES_ACTION:
        payment.require_action(next_action=result.next_action)
        payment.save()
        _event("payment.requires_action", payment, at, actor, next_action=result.next_action)
        if payment.invoice_id:  # a new subscription waits for 3-D Secure: incomplete till then
            subscriptions_first_charge_failed(
                invoice=payment.invoice, payment=payment, at=at, code="requires_action", actor=actor
            )
    elif result.outcome == Outcome.UNKNOWN and payment.status == P.PENDING:
        payment.mark_unknown()
        payment.save()
        _event("payment.unknown", payment, at, actor, attempt=attempt.idempotency_key)
    else:  # PROCESSING (or still unknown): it settles later
        payment.save()


def _locked_payment(payment: Payment) -> Payment:
    """The payment, locked (not its invoice: the caller locked that first)."""
    return (
        Payment.objects.select_for_update(of=("self",))
        .select_related("invoice", "gateway")
        .get(pk=payment.pk)
    )


@transaction.atomic
def _attempt_finish(
    *, attempt: PaymentAttempt, result: ChargeResult, at: datetime, actor: Actor
) -> Payment:
    payment = Payment.objects.get(pk=attempt.payment_id)
    if payment.invoice_id:
        Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    payment = _locked_payment(payment)
    attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
    if attempt.status not in (A.STARTED, A.UNKNOWN, A.PROCESSING, A.REQUIRES_ACTION):
        return payment  # recorded already (a webhook or the janitor was faster)
    _attempt_record(attempt, result, at)
    if result.outcome != Outcome.ERROR and payment.status in (
        P.PENDING,
        P.UNKNOWN,
        P.REQUIRES_ACTION,
    ):
        _apply_outcome(payment=payment, attempt=attempt, result=result, at=at, actor=actor)
    return payment


@transaction.atomic
def _payment_fail(*, payment: Payment, code: str, message: str, at: datetime, actor: Actor):
    if payment.invoice_id:
        Invoice.objects.select_for_update().get(pk=payment.invoice_id)
    payment = _locked_payment(payment)
    if payment.status != P.PENDING:
        return payment
    payment.fail(at=at, code=code, message=message)
    payment.save()
    _event("payment.failed", payment, at, actor, code=code)
    if payment.invoice_id:
        hooks.payment_failed.send(
            sender=Payment, invoice=payment.invoice, payment=payment, at=at, actor=actor
        )
    return payment


def _charge(*, payment: Payment, at: datetime, actor: Actor) -> Payment:
    """Try the routed gateways in order; a gateway error fails over to the next one."""
    gateways = payment_route(payment)
    last_error = "No gateway can charge this payment method in this currency."
    for gateway in gateways:
        attempt = _attempt_start(payment=payment, gateway=gateway, at=at)
        if attempt is None:
            break
        result = _call(gateway, payment, attempt)
        payment = _attempt_finish(attempt=attempt, result=result, at=at, actor=actor)
        if result.outcome != Outcome.ERROR:
            return payment
        last_error = result.message or f"{gateway} failed ({result.code})."
    code = "gateway_error" if gateways else "no_gateway"
    return _payment_fail(payment=payment, code=code, message=last_error, at=at, actor=actor)


# Services
def payment_collect(
    *,
    invoice: Invoice,
    at: datetime,
    source: str = PaymentSource.API,
    method: PaymentMethod | None = None,
    actor: Actor = None,
) -> Payment:
    """Charge an open invoice's amount due to `method` (default: the customer's default
    method). Returns the payment in the state the gateways left it."""
    payment = _payment_open(invoice=invoice, at=at, source=source, method=method, actor=actor)
    if payment.status != P.PENDING:
        return payment  # held for review
    return _charge(payment=payment, at=at, actor=actor)


def payment_review_approve(*, payment: Payment, at: datetime, actor: Actor = None) -> Payment:
    """Staff cleared a payment held by a fraud check: charge it now."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        payment.approve()
        payment.save()
        _event("payment.approved", payment, at, actor)
    return _charge(payment=payment, at=at, actor=actor)


@transaction.atomic
def payment_review_reject(
    *, payment: Payment, at: datetime, reason: str = "", actor: Actor = None
) -> Payment:
    """Staff refused a payment held by a fraud check: it fails, nothing is charged."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    payment.fail(at=at, code="fraud_rejected", message=reason or payment.review_reason)
    payment.save()
    _event("payment.failed", payment, at, actor, code="fraud_rejected")
    return payment


def _resolve(payment: Payment, at: datetime, actor: Actor) -> Payment:
    """Ask the gateway what became of the payment's open attempt, and record it."""
    attempt = (
        payment.attempts.filter(status__in=[A.STARTED, A.UNKNOWN, A.PROCESSING, A.REQUIRES_ACTION])
        .select_related("gateway")
        .order_by("-number")
        .first()
    )
    if attempt is None:
        return payment
    try:
        result = adapter_for(attempt.gateway).charge_status(
            idempotency_key=attempt.idempotency_key, reference=attempt.gateway_reference
        )
    except GatewayError as error:
        logger.warning("Cannot resolve %s yet: %s", attempt.idempotency_key, error.message)
        return payment
    if result.outcome == Outcome.NOT_FOUND:
        # The gateway never received the call: nothing was charged; say so.
        result = ChargeResult(
            Outcome.DECLINED, code="not_received", message="The gateway never received it."
        )
    if result.outcome in (Outcome.UNKNOWN, Outcome.ERROR) or (
        result.outcome == attempt.status and attempt.status != A.STARTED
    ):
        return payment  # nothing new
    return _attempt_finish(attempt=attempt, result=result, at=at, actor=actor)


def payment_refresh(*, payment: Payment, at: datetime, actor: Actor = None) -> Payment:
    """Ask the gateway about a payment waiting for an outcome (3-D Secure done, a debit
    settled, a timeout)."""
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status not in (P.PENDING, P.UNKNOWN, P.REQUIRES_ACTION):
        raise StateError(f"Payment #{payment.pk} is {payment.status}; nothing to refresh.")
    return _resolve(payment, at, actor)


def payments_resolve_unknown(*, at: datetime) -> int:
    """The janitor: payments whose outcome nobody heard (timeouts, a worker that died between
    the call and the record, debits settling) are resolved by asking the gateway about the
    attempt's idempotency key — never by charging again. Returns how many moved."""
    settle = timedelta(seconds=settings.PAYMENT_UNKNOWN_RESOLVE_AFTER_SECONDS)
    waiting = (
        Payment.objects.filter(Q(status=P.UNKNOWN) | Q(status__in=[P.PENDING, P.REQUIRES_ACTION]))
        .filter(
            attempts__status__in=[A.STARTED, A.UNKNOWN, A.PROCESSING, A.REQUIRES_ACTION],
            attempts__started_at__lte=at - settle,
        )
        .distinct()
        .order_by("pk")
    )
    moved = 0
    for payment in waiting:
        before = payment.status
        if _resolve(payment, at, actor="janitor").status != before:
            moved += 1
    return moved


def payment_gateway_report(
    *, reference: str, result: ChargeResult, at: datetime, idempotency_key: str = ""
) -> Payment | None:
    """A gateway told us (webhook) what became of a charge: record it once on the attempt with
    that reference or idempotency key. None when the charge is not ours."""
    attempt = (
        PaymentAttempt.objects.filter(
            Q(gateway_reference=reference) if reference else Q(pk__in=[])
        ).first()
        or PaymentAttempt.objects.filter(idempotency_key=idempotency_key or None).first()
    )
    if attempt is None:
        return None
    if result.outcome in (Outcome.ERROR, Outcome.NOT_FOUND, Outcome.UNKNOWN):
        return attempt.payment
    return _attempt_finish(attempt=attempt, result=result, at=at, actor="gateway")
