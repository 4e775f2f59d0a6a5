"""Coupons and the discounts they grant, applied to invoices before tax.

A coupon takes a percentage or a fixed amount (in one currency) off, once, for a number of
periods, or forever. Redeeming it for a customer (or one subscription) makes a `Discount`.
Invoice creation (`invoices_create`) asks `invoices_discount` for the discount lines of new
invoices, before their totals: one negative `credit` line per active discount, rounded once
to the currency's minor unit and never more than the positive subtotal of the lines it
applies to. A discount applies once
per invoice and counts the invoices it applied to (`periods_applied`); each of its lines
carries the billing key `discount:<discount id>:<n>`, so its n-th period is billed once.
"""

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.events.services import Actor, billing_event_record
from billing.invoicing.models.credits import Coupon, CouponDuration, CouponKind, Discount
from billing.invoicing.models.invoices import Invoice, InvoiceLine, LineKind
from billing.subscriptions.models.subscriptions import Subscription, SubscriptionStatus
from catalog.money import round_money
from catalog.validators import validate_money_places
from customers.models import Customer

DISCOUNT_KEY_PREFIX = "discount:"
ZERO = Decimal(0)
HUNDRED = Decimal(100)
COUPON_CHANGEABLE = ("name", "active", "max_redemptions", "redeem_by")


def _error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def is_discount_line(line: InvoiceLine) -> bool:
    return bool(line.billing_key) and line.billing_key.startswith(DISCOUNT_KEY_PREFIX)


def discounted_lines(charges: list[InvoiceLine], subscription_id: int | None) -> list[InvoiceLine]:
    """The charge lines a discount applies to: all of them, or one subscription's."""
    if subscription_id is None:
        return charges
    return [ln for ln in charges if ln.subscription_id == subscription_id]


def discount_of_line(line: InvoiceLine) -> int | None:
    """The id of the discount a line was made for, or None."""
    if not is_discount_line(line):
        return None
    return int(line.billing_key.split(":")[1])


def coupon_terms_errors(coupon: Coupon) -> dict[str, ValidationError]:
    errors: dict[str, ValidationError] = {}
    if coupon.kind == CouponKind.PERCENT:
        if coupon.percent_off is None or not ZERO < coupon.percent_off <= HUNDRED:
            errors["percent_off"] = ValidationError(
                "A percent coupon needs percent_off above 0, at most 100.", code="out_of_range"
            )
        if coupon.amount_off is not None:
            errors["amount_off"] = ValidationError(
                "A percent coupon has no amount_off.", code="not_allowed"
            )
        if coupon.currency:
            errors["currency"] = ValidationError(
                "A percent coupon applies in any currency; leave currency empty.",
                code="not_allowed",
            )
    elif coupon.kind == CouponKind.FIXED:
        if coupon.amount_off is None or coupon.amount_off <= 0:
            errors["amount_off"] = ValidationError(
                "A fixed coupon needs amount_off above 0.", code="min_value"
            )
        if not coupon.currency:
            errors["currency"] = ValidationError(
                "A fixed coupon needs the currency of its amount.", code="required"
            )
        elif coupon.amount_off is not None and "currency" not in errors:
            try:
                validate_money_places(coupon.amount_off, coupon.currency, "amount_off")
            except ValidationError as exc:
                errors.update(exc.error_dict)
        if coupon.percent_off is not None:
            errors["percent_off"] = ValidationError(
                "A fixed coupon has no percent_off.", code="not_allowed"
            )
    if coupon.duration == CouponDuration.REPEATING:
        if not coupon.duration_in_periods:
            errors["duration_in_periods"] = ValidationError(
                "A repeating coupon needs duration_in_periods (1 or more).", code="required"
            )
    elif coupon.duration_in_periods is not None:
        errors["duration_in_periods"] = ValidationError(
            "Only repeating coupons have duration_in_periods.", code="not_allowed"
        )
    return errors


def _coupon_clean(coupon: Coupon) -> None:
    errors: dict[str, list[ValidationError]] = {}
    try:
        coupon.full_clean(validate_constraints=False)
    except ValidationError as exc:
        errors = {field: list(errs) for field, errs in exc.error_dict.items()}
    for field, error in coupon_terms_errors(coupon).items():
        errors.setdefault(field, [error])
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def coupon_create(
    *,
    code: str,
    name: str,
    kind: str,
    duration: str,
    at: datetime,
    percent_off: Decimal | None = None,
    amount_off: Decimal | None = None,
    currency: str = "",
    duration_in_periods: int | None = None,
    max_redemptions: int | None = None,
    redeem_by: datetime | None = None,
    active: bool = True,
    actor: Actor = None,
) -> Coupon:
    coupon = Coupon(
        code=code,
        name=name,
        kind=kind,
        percent_off=percent_off,
        amount_off=amount_off,
        currency=currency or "",
        duration=duration,
        duration_in_periods=duration_in_periods,
        max_redemptions=max_redemptions,
        redeem_by=redeem_by,
        active=active,
    )
    _coupon_clean(coupon)
    coupon.save()
    billing_event_record(
        kind="coupon.created",
        subject=coupon,
        at=at,
        actor=actor,
        payload={"code": coupon.code, "kind": kind, "duration": duration},
    )
    return coupon


@transaction.atomic
def coupon_update(*, coupon: Coupon, at: datetime, actor: Actor = None, **changes) -> Coupon:
    """Change what does not alter the terms of discounts already granted: name, active,
    max_redemptions, redeem_by."""
    unknown = sorted(set(changes) - set(COUPON_CHANGEABLE))
    if unknown:
        raise _error(unknown[0], "The terms of a coupon cannot change.", "read_only")
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    for name, value in changes.items():
        setattr(coupon, name, value)
    _coupon_clean(coupon)
    coupon.save()
    billing_event_record(
        kind="coupon.updated",
        subject=coupon,
        at=at,
        actor=actor,
        payload={"code": coupon.code, "changed": sorted(changes)},
    )
    return coupon


@transaction.atomic
def discount_apply(
    *,
    coupon: Coupon,
    customer: Customer,
    at: datetime,
    subscription: Subscription | None = None,
    actor: Actor = None,
) -> Discount:
    """Redeem `coupon` for the customer (all its invoices) or one of its subscriptions (that
    subscription's lines), from `at` on."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    coupon = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if customer.is_archived:
        raise _error("customer", "This customer is archived.", "archived")
    if subscription is not None:
        if subscription.customer_id != customer.pk:
            raise _error(
                "subscription", "This subscription belongs to another customer.", "invalid"
            )
        if subscription.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.EXPIRED):
            raise _error("subscription", "This subscription has ended.", "subscription_ended")
    if not coupon.active:
        raise _error("coupon", "This coupon is not active.", "coupon_inactive")
    if coupon.redeem_by is not None and at > coupon.redeem_by:
        raise _error("coupon", "This coupon can no longer be redeemed.", "coupon_expired")
    if coupon.max_redemptions is not None and coupon.discounts.count() >= coupon.max_redemptions:
        raise _error("coupon", "This coupon has been redeemed too often.", "coupon_exhausted")
    currency = subscription.currency if subscription is not None else customer.currency
    if coupon.kind == CouponKind.FIXED and coupon.currency != currency:
        raise _error(
            "coupon",
            f"This coupon takes {coupon.currency} off; the "
            f"{'subscription' if subscription else 'customer'} is billed in {currency}.",
            "currency_mismatch",
        )
    if Discount.objects.filter(
        coupon=coupon, customer=customer, subscription=subscription, end_at__isnull=True
    ).exists():
        raise _error("coupon", "This coupon is already applied here.", "already_applied")
    discount = Discount.objects.create(
        coupon=coupon, customer=customer, subscription=subscription, start_at=at
    )
    billing_event_record(
        kind="discount.created",
        subject=discount,
        at=at,
        actor=actor,
        customer=customer,
        payload={
            "coupon": coupon.code,
            "subscription": subscription.pk if subscription else None,
        },
    )
    return discount


@transaction.atomic
def discount_end(*, discount: Discount, at: datetime, actor: Actor = None) -> Discount:
    """Remove a discount from `at` on: invoices made from then on take nothing off (the
    invoices it applied to keep their discount lines). Ending one already ended is refused."""
    discount = Discount.objects.select_for_update().select_related("coupon").get(pk=discount.pk)
    if discount.end_at is not None:
        raise _error("discount", "This discount has already ended.", "discount_ended")
    discount.end_at = max(at, discount.start_at)
    discount.save(update_fields=["end_at"])
    billing_event_record(
        kind="discount.ended",
        subject=discount,
        at=at,
        actor=actor,
        customer=discount.customer,
        payload={
            "coupon": discount.coupon.code,
            "periods_applied": discount.periods_applied,
            "removed": True,
        },
    )
    return discount


def _period(lines: list[InvoiceLine]) -> tuple[datetime | None, datetime | None]:
    start = min((ln.period_start for ln in lines if ln.period_start), default=None)
    end = max((ln.period_end for ln in lines if ln.period_end), default=None)
    if start is None or end is None or end <= start:
        return None, None
    return start, end


def _active_discounts(customer_ids: set[int], at: datetime, lock: bool) -> dict[int, list]:
    discounts = (
        Discount.objects.filter(customer_id__in=customer_ids, end_at__isnull=True, start_at__lte=at)
        .select_related("coupon")
        .order_by("pk")
    )
    if lock:
        discounts = discounts.select_for_update(of=("self",))
    by_customer: dict[int, list[Discount]] = defaultdict(list)
    for discount in discounts:
        by_customer[discount.customer_id].append(discount)
    return by_customer


def _discount_lines(
    invoice: Invoice, lines: list[InvoiceLine], discounts: list[Discount], at: datetime
) -> list[tuple[Discount, InvoiceLine]]:
    applied = {discount_of_line(ln) for ln in lines} - {None}
    if invoice.pk is not None:
        applied |= {discount_of_line(ln) for ln in invoice.lines.all()} - {None}
    charges = [ln for ln in lines if not is_discount_line(ln)]
    remaining = sum((ln.amount for ln in lines), ZERO)  # never discount below 0
    made = []
    for discount in discounts:
        coupon = discount.coupon
        if discount.pk in applied or discount.end_at is not None:
            continue
        if coupon.kind == CouponKind.FIXED and coupon.currency != invoice.currency:
            continue
        eligible = discounted_lines(charges, discount.subscription_id)
        base = sum((ln.amount for ln in eligible), ZERO)
        cap = min(base, remaining)
        if cap <= 0:
            continue  # nothing to discount: the period is not used up
        if coupon.kind == CouponKind.PERCENT:
            amount = round_money(base * coupon.percent_off / HUNDRED, invoice.currency)
        else:
            amount = round_money(coupon.amount_off, invoice.currency)
        amount = min(amount, cap)
        if amount <= 0:
            continue
        period_start, period_end = _period(eligible)
        line = InvoiceLine(
            customer_id=invoice.customer_id,
            currency=invoice.currency,
            subscription_id=discount.subscription_id,
            kind=LineKind.CREDIT,
            description=f"Coupon {coupon.code} ({coupon.label})",
            quantity=Decimal(1),
            unit_amount=-amount,
            amount=-amount,
            period_start=period_start,
            period_end=period_end,
            billing_key=f"{DISCOUNT_KEY_PREFIX}{discount.pk}:{discount.periods_applied + 1}",
        )
        made.append((discount, line))
        remaining -= amount
    return made


def invoices_discount(
    *,
    drafts: list[tuple[Invoice, list[InvoiceLine]]],
    at: datetime,
    preview: bool = False,
    actor: Actor = None,
) -> list[list[InvoiceLine]]:
    """The discount lines (unsaved, negative, kind `credit`) of each new invoice of `drafts`
    (an invoice and all its lines), one per active discount of its customer not applied to it
    yet. Runs in the caller's transaction with the customers locked, in a fixed number of
    queries (for a bill run's batch): the applied discounts' `periods_applied` advance, and a
    discount ends after its last period — unless `preview`, which changes nothing."""
    if not preview and not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoices_discount must run inside the caller's transaction.")
    by_customer = _active_discounts(
        {invoice.customer_id for invoice, _ in drafts}, at, lock=not preview
    )
    result, changed = [], {}
    for invoice, lines in drafts:
        made = _discount_lines(invoice, lines, by_customer.get(invoice.customer_id, []), at)
        result.append([line for _, line in made])
        if preview:
            continue
        for discount, _ in made:
            discount.periods_applied += 1
            periods = discount.coupon.periods
            if periods is not None and discount.periods_applied >= periods:
                discount.end_at = at
            changed[discount.pk] = (discount, invoice.customer)
    if changed:
        Discount.objects.bulk_update(
            [d for d, _ in changed.values()], ["periods_applied", "end_at"]
        )
    for discount, customer in changed.values():
        if discount.end_at is not None:
            billing_event_record(
                kind="discount.ended",
                subject=discount,
                at=at,
                actor=actor,
                customer=customer,
                payload={
                    "coupon": discount.coupon.code,
                    "periods_applied": discount.periods_applied,
                },
            )
    return result


def invoice_discount(
    *,
    invoice: Invoice,
    lines: list[InvoiceLine],
    at: datetime,
    preview: bool = False,
    actor: Actor = None,
) -> list[InvoiceLine]:
    """`invoices_discount` for one invoice: its discount lines, to add to `lines` before the
    totals are computed."""
    return invoices_discount(drafts=[(invoice, lines)], at=at, preview=preview, actor=actor)[0]
