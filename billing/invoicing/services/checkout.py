"""Subscribing is a checkout: the new subscription's first invoice is charged in the same
request, after the subscription is committed, so the caller sees `active` (paid) or
`incomplete` (declined, or waiting for 3-D Secure) at once. The collection task queued when
the invoice was finalized then finds it charged and does nothing (see `invoice_collect`)."""

import logging
from datetime import datetime
from functools import partial

from django.db import transaction

from billing.events.services import Actor, billing_event_handlers_held
from billing.invoicing import hooks
from billing.invoicing.services.subscription_billing import subscription_create
from billing.subscriptions.models.subscriptions import Subscription

logger = logging.getLogger("billing.checkout")


def _first_charge(sub: Subscription, at: datetime) -> Subscription:
    if sub.first_invoice_id is None:
        return sub  # a trial, a future start, or nothing to bill
    try:
        hooks.provider("invoice_collect")(invoice_id=sub.first_invoice_id, at=at)
    except Exception:  # noqa: BLE001 - subscribed (committed); the queued task tries if unpaid
        logger.exception("Checkout charge of subscription %s failed", sub.pk)
    return Subscription.objects.select_related("customer", "plan").get(pk=sub.pk)


def subscription_checkout(*, at: datetime, actor: Actor = None, **fields) -> Subscription:
    """`subscription_create(**fields)`, committed, then its first invoice collected when it
    has an amount due and the customer a default payment method. Call it outside any
    transaction (it calls the gateway). The charge's outcome never fails the call: the
    subscription is returned in the state it left it (a payment `unknown` is settled later)."""
    with billing_event_handlers_held():  # no access granted before the charge's outcome
        sub = subscription_create(at=at, actor=actor, **fields)
        return _first_charge(sub, at)


def subscription_checkout_on_commit(*, at: datetime, actor: Actor = None, **fields) -> Subscription:
    """The same inside a transaction (the admin's add view): the subscription now, its first
    charge once that transaction commits."""
    sub = subscription_create(at=at, actor=actor, **fields)
    transaction.on_commit(partial(_first_charge, sub, at), robust=True)
    return sub
