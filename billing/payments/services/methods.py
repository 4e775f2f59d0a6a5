"""Cards and bank accounts on file: stored at the gateway, kept here as its token and display
data only (brand, last4, expiry, bank name) — never a card number."""

import re
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction

from api.errors import DomainError, StateError
from billing.events.services import Actor, billing_event_record
from billing.payments import hooks
from billing.payments.gateways import adapter_for
from billing.payments.gateways.base import GatewayError
from billing.payments.models.payments import (
    Gateway,
    GatewayAdapter,
    PaymentMethod,
    PaymentMethodStatus,
)
from customers.models import Customer

ACTIVE = PaymentMethodStatus.ACTIVE
_CARD_NUMBER = re.compile(r"^[\d\s-]{12,23}$")


def _gateway(gateway: Gateway | str) -> Gateway:
    if isinstance(gateway, Gateway):
        return gateway
    found = Gateway.objects.filter(code=gateway, active=True).first()
    if found is None:
        raise DomainError(f"No active gateway {gateway!r}.", code="does_not_exist", field="gateway")
    return found


def gateway_customer_id(customer: Customer, gateway: Gateway, adapter) -> str:
    """The customer's id at the gateway's vault: the one a stored method has, else a new
    gateway customer (a network call)."""
    known = (
        PaymentMethod.objects.filter(customer=customer, vault=gateway.vault)
        .exclude(gateway_customer_id="")
        .values_list("gateway_customer_id", flat=True)
        .first()
    )
    return known or adapter.customer_setup(
        customer_id=customer.pk, email=customer.email, name=customer.name
    )


def payment_method_attach(
    *,
    customer: Customer,
    gateway: Gateway | str,
    token: str,
    make_default: bool,
    at: datetime,
    actor: Actor = None,
) -> PaymentMethod:
    """Store a gateway token (tok_…, pm_…, seti_…) as the customer's payment method. The
    first method, or one stored with `make_default`, becomes the default. Open dunning cases
    of the customer are retried with it."""
    gateway = _gateway(gateway)
    token = (token or "").strip()
    if not token or len(token) > 255:
        raise DomainError("Give the gateway's token (1 to 255 characters).", field="token")
    if _CARD_NUMBER.match(token) and gateway.adapter != GatewayAdapter.SANDBOX:
        raise DomainError(
            "Send a token from the gateway's client library, never a card number.",
            code="card_number_refused",
            field="token",
        )
    adapter = adapter_for(gateway)
    if not adapter.charges or not adapter.available():
        raise DomainError(
            f"Gateway {gateway.code} does not store payment methods here.",
            code="gateway_unavailable",
            field="gateway",
        )
    try:  # network calls: outside any transaction
        customer_ref = gateway_customer_id(customer, gateway, adapter)
        stored = adapter.payment_method_store(gateway_customer_id=customer_ref, token=token)
    except GatewayError as error:
        raise DomainError(error.message, code=error.code, field="token") from None
    method = _method_save(
        customer=customer,
        gateway=gateway,
        stored=stored,
        customer_ref=customer_ref,
        make_default=make_default,
        at=at,
        actor=actor,
    )
    # After the customer's lock is released: dunning locks invoices and cases before customers.
    hooks.payment_method_added.send(sender=PaymentMethod, customer=customer, at=at, actor=actor)
    return method


@transaction.atomic
def _method_save(*, customer, gateway, stored, customer_ref, make_default, at, actor):
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    methods = PaymentMethod.objects.filter(customer=customer, status=ACTIVE)
    make_default = make_default or not methods.filter(is_default=True).exists()
    if make_default:
        methods.filter(is_default=True).update(is_default=False)
    method = PaymentMethod.objects.create(
        customer=customer,
        vault=gateway.vault,
        kind=stored.kind,
        token=stored.token,
        gateway_customer_id=customer_ref,
        brand=stored.brand,
        last4=stored.last4,
        exp_month=stored.exp_month,
        exp_year=stored.exp_year,
        bank_name=stored.bank_name,
        country=stored.country,
        fingerprint=stored.fingerprint,
        is_default=make_default,
        created_at=at,
    )
    billing_event_record(
        kind="payment_method.attached",
        subject=method,
        at=at,
        actor=actor,
        payload={"label": method.label, "default": make_default, "gateway": gateway.code},
    )
    return method


def _locked_method(method: PaymentMethod) -> PaymentMethod:
    Customer.objects.select_for_update().get(pk=method.customer_id)
    return PaymentMethod.objects.select_for_update().get(pk=method.pk)


def payment_method_set_default(
    *, method: PaymentMethod, at: datetime, actor: Actor = None
) -> PaymentMethod:
    with transaction.atomic():
        method, changed = _default_set(method, at, actor)
    if changed:  # after the customer's lock is released (see payment_method_attach)
        hooks.payment_method_added.send(
            sender=PaymentMethod, customer=method.customer, at=at, actor=actor
        )
    return method


def _default_set(method: PaymentMethod, at: datetime, actor: Actor) -> tuple[PaymentMethod, bool]:
    method = _locked_method(method)
    if method.status != ACTIVE:
        raise StateError("A detached payment method cannot be the default.")
    changed = not method.is_default
    if changed:
        PaymentMethod.objects.filter(
            customer_id=method.customer_id, status=ACTIVE, is_default=True
        ).update(is_default=False)
        method.is_default = True
        method.save(update_fields=["is_default"])
        billing_event_record(
            kind="payment_method.default_set",
            subject=method,
            at=at,
            actor=actor,
            payload={"label": method.label},
        )
    return method, changed


@transaction.atomic
def payment_method_detach(
    *, method: PaymentMethod, at: datetime, actor: Actor = None
) -> PaymentMethod:
    """Stop using a method (the gateway keeps the token; nothing here charges it again)."""
    method = _locked_method(method)
    if method.status != ACTIVE:
        return method
    method.status, method.detached_at, method.is_default = (
        PaymentMethodStatus.DETACHED,
        at,
        False,
    )
    method.save(update_fields=["status", "detached_at", "is_default"])
    billing_event_record(
        kind="payment_method.detached",
        subject=method,
        at=at,
        actor=actor,
        payload={"label": method.label},
    )
    return method


def payment_method_risk_report(*, vault: str, token: str, risk_level: str, at: datetime) -> None:
    """The gateway rates a card's fraud risk (e.g. a Radar early fraud warning)."""
    with transaction.atomic():
        for method in PaymentMethod.objects.select_for_update().filter(vault=vault, token=token):
            method.risk_level = risk_level[:20]
            method.save(update_fields=["risk_level"])
            billing_event_record(
                kind="payment_method.risk_reported",
                subject=method,
                at=at,
                actor="gateway",
                payload={"risk_level": risk_level},
            )


def _expires_on(method: PaymentMethod) -> date:
    """The first day after the card's expiry month."""
    if method.exp_month == 12:
        return date(method.exp_year + 1, 1, 1)
    return date(method.exp_year, method.exp_month + 1, 1)


def payment_methods_expiring_notify(*, at: datetime) -> int:
    """Record `payment_method.expiring` once per card and expiry for active cards that expire
    within PAYMENT_METHOD_EXPIRY_NOTICE_DAYS (the portal and webhooks remind the customer)."""
    horizon = (at + timedelta(days=settings.PAYMENT_METHOD_EXPIRY_NOTICE_DAYS)).date()
    cards = PaymentMethod.objects.filter(
        status=ACTIVE, exp_year__isnull=False, exp_month__isnull=False, exp_year__lte=horizon.year
    ).select_related("customer")
    recorded = 0
    for method in cards:
        expires_on = _expires_on(method)
        if expires_on > horizon or expires_on <= at.date():
            continue
        with transaction.atomic():
            event = billing_event_record(
                kind="payment_method.expiring",
                subject=method,
                at=at,
                customer=method.customer,
                payload={"label": method.label, "expires_on": expires_on.isoformat()},
                dedupe_key=f"pm-expiring:{method.pk}:{method.exp_year}-{method.exp_month:02d}",
            )
        recorded += event is not None
    return recorded
