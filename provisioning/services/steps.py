"""The built-in fulfillment step types. Each has `run(step, at) -> result` and `undo(step, at)`.

Database steps (`external=False`) run inside the transaction that records their success,
so a worker dying mid-step leaves nothing half done; external steps (`call_http`,
`send_email`) are called outside any transaction with the step's idempotency key. `run` may
raise `StepWait` (not ready yet: an approval, an unhealthy prerequisite) or any exception
(a failure, retried with backoff). The other provisioning services are imported inside the
functions. `issue_api_key` makes an unrevealed key (nobody knows a secret of it) and, after
the step commits, mails the owner that it was issued and where to reveal it, once, in the
portal (config `email_owner`, default true); no secret is ever mailed."""

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string

from api.outbound import outbound_request
from billing.invoicing.services.documents import seller
from billing.models import Subscription, SubscriptionStatus
from catalog.models import Feature
from customers.models import CustomerUser
from customers.notices import site_url
from provisioning.models import CustomerAccess, FulfillmentStep, ProvisionedEntitlement

logger = logging.getLogger("provisioning.orders")
PAYING = [SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE]


class StepWait(Exception):  # noqa: N818 - a state, not an error
    def __init__(self, reason: str, retry_at: datetime | None = None):
        super().__init__(reason)
        self.reason, self.retry_at = reason, retry_at


@dataclass(frozen=True)
class StepType:
    run: object
    undo: object
    external: bool = False
    # Run right after a billing change commits, in that process (see `sync`): database steps
    # that send nothing outside (not `issue_api_key`, which sends a mail).
    inline: bool = True


def _customer(step: FulfillmentStep):
    return step.order.customer


def _owner(customer) -> CustomerUser | None:
    users = CustomerUser.objects.filter(customer=customer).select_related("user")
    return users.filter(role="owner").order_by("pk").first()


def _access_status(customer) -> str:
    access = CustomerAccess.objects.filter(customer=customer).first()
    return access.status if access else "none"


def has_paying_subscription(customer) -> bool:
    return Subscription.objects.filter(customer=customer, status__in=PAYING).exists()


# Database steps
def create_account(step, at):
    from provisioning.services.accounts import account_activate

    before = _access_status(_customer(step))
    account_activate(customer=_customer(step), at=at)
    return {"status_before": before}


def create_account_undo(step, at):
    from provisioning.services.accounts import account_suspend

    if step.result.get("status_before") != "active":
        account_suspend(customer=_customer(step), at=at)


def grant_entitlements(step, at):
    from provisioning.services.entitlements import entitlements_sync

    customer = _customer(step)
    initial = not ProvisionedEntitlement.objects.filter(customer=customer).exists()
    return {"changed": entitlements_sync(customer=customer, at=at), "initial": initial}


def grant_entitlements_undo(step, at):
    from provisioning.services.entitlements import entitlements_remove, entitlements_sync

    if step.result.get("initial"):
        entitlements_remove(customer=_customer(step), at=at)
    else:
        entitlements_sync(customer=_customer(step), at=at)


def assign_seats(step, at):
    from provisioning.models import SeatAssignment
    from provisioning.services.seats import seat_assign

    customer, owner = _customer(step), _owner(_customer(step))
    held = ProvisionedEntitlement.objects.filter(
        customer=customer, enabled=True, feature__kind="seats"
    ).order_by("feature__code")
    if step.config.get("feature"):
        held = held.filter(feature__code=step.config["feature"])
    entitlement = held.select_related("feature").first()
    if owner is None or entitlement is None:
        return {"assigned": False, "reason": "no owner" if owner is None else "no seats feature"}
    feature = entitlement.feature
    if SeatAssignment.objects.filter(feature=feature, user=owner).exists():
        return {"assigned": False, "feature": feature.code, "user": owner.pk, "existing": True}
    seat_assign(customer=customer, feature=feature, user=owner, at=at)
    return {"assigned": True, "feature": feature.code, "user": owner.pk}


def assign_seats_undo(step, at):
    from provisioning.services.seats import seat_unassign

    if step.result.get("assigned"):
        feature = Feature.objects.get(code=step.result["feature"])
        user = CustomerUser.objects.get(pk=step.result["user"])
        seat_unassign(customer=_customer(step), feature=feature, user=user, at=at)


def issue_api_key(step, at):
    """An unrevealed key (`service_key_issue`): its owner reveals it in the portal, once."""
    from provisioning.models import ServiceKey
    from provisioning.services.keys import service_key_issue

    customer, name = _customer(step), step.config.get("name", "Default")
    existing = ServiceKey.objects.filter(
        customer=customer, name=name, revoked_at__isnull=True
    ).first()
    if existing is not None:  # issued by an earlier order: one key of a name per customer
        return {"key_id": existing.pk, "prefix": existing.prefix, "existing": True}
    key = service_key_issue(
        customer=customer,
        name=name,
        scopes=step.config.get("scopes", []),
        at=at,
        actor=f"order:{step.order_id}",
    )
    owner = _owner(customer)
    to = owner.user.email if owner and owner.user.email else customer.email
    if step.config.get("email_owner", True) and to:
        transaction.on_commit(lambda: _key_email(to, name, customer), robust=True)
    return {"key_id": key.pk, "unrevealed": True}


def _key_email(to: str, name: str, customer) -> None:
    """That a key was issued and where to reveal it: never the key (nobody knows it yet)."""
    context = {
        "name": name,
        "customer": customer,
        "seller": seller()["name"],
        "url": site_url("portal:api_keys"),
    }
    send_mail(
        render_to_string("provisioning/email/key_issued_subject.txt", context).strip(),
        render_to_string("provisioning/email/key_issued.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [to],
    )


def issue_api_key_undo(step, at):
    from provisioning.models import ServiceKey
    from provisioning.services.keys import service_key_revoke

    if step.result.get("key_id") and not step.result.get("existing"):
        key = ServiceKey.objects.filter(pk=step.result["key_id"], revoked_at__isnull=True).first()
        if key is not None:
            service_key_revoke(key=key, at=at)


def manual_approval(step, at):
    if not step.result.get("approved_by"):
        raise StepWait(step.config.get("reason", "Waiting for an operator's approval."))
    return dict(step.result)


def suspend_access(step, at):
    """A subscription is held (suspended, paused, or incomplete: its first charge failed): the
    account is suspended, unless another subscription of the customer still pays — then only
    the held one's entitlements go."""
    from provisioning.services.accounts import account_suspend
    from provisioning.services.entitlements import entitlements_sync

    customer = _customer(step)
    before = _access_status(customer)
    if has_paying_subscription(customer):
        entitlements_sync(customer=customer, at=at)
        return {"status_before": before, "kept": "another subscription is live"}
    if before == "active":
        account_suspend(customer=customer, at=at)
    return {"status_before": before}


def suspend_access_undo(step, at):
    from provisioning.services.accounts import account_restore
    from provisioning.services.entitlements import entitlements_sync

    if step.result.get("kept"):
        entitlements_sync(customer=_customer(step), at=at)
    elif step.result.get("status_before") == "active":
        account_restore(customer=_customer(step), at=at)


def restore_access(step, at):
    from provisioning.services.accounts import account_restore
    from provisioning.services.entitlements import entitlements_sync

    before = _access_status(_customer(step))
    if before == "suspended":
        account_restore(customer=_customer(step), at=at)
    entitlements_sync(customer=_customer(step), at=at)
    return {"status_before": before}


def restore_access_undo(step, at):
    from provisioning.services.accounts import account_suspend

    if step.result.get("status_before") == "suspended":
        account_suspend(customer=_customer(step), at=at)


def schedule_deprovision(step, at):
    """After a cancel: when the customer still pays for another subscription its entitlements
    follow billing now; otherwise access ends after the grace period."""
    from provisioning.services.accounts import account_deprovision_schedule
    from provisioning.services.entitlements import entitlements_sync

    customer = _customer(step)
    if has_paying_subscription(customer):
        entitlements_sync(customer=customer, at=at)
        return {"deprovision_at": None, "reason": "another subscription is live"}
    days = getattr(settings, "PROVISIONING_DEPROVISION_GRACE_DAYS", 7)
    event = step.order.source_event
    when = (event.occurred_at if event else at) + timedelta(days=days)
    account_deprovision_schedule(customer=customer, deprovision_at=when, at=at)
    return {"deprovision_at": when.isoformat()}


def schedule_deprovision_undo(step, at):
    from provisioning.services.accounts import account_deprovision_schedule

    if step.result.get("deprovision_at"):
        account_deprovision_schedule(customer=_customer(step), deprovision_at=None, at=at)


def deprovision(step, at):
    from provisioning.services.accounts import account_deprovision, account_deprovision_schedule
    from provisioning.services.entitlements import entitlements_remove

    customer = _customer(step)
    if has_paying_subscription(customer):  # subscribed again during the grace period
        account_deprovision_schedule(customer=customer, deprovision_at=None, at=at)
        return {"deprovisioned": False, "reason": "a subscription is live again"}
    account_deprovision(customer=customer, at=at)
    entitlements_remove(customer=customer, at=at)
    return {"deprovisioned": True}


def no_undo(step, at):
    return None


# External steps
HTTP_ANSWER_CHARS = 500  # characters of an answer kept in a step's result


def http_call(method: str, url: str, *, body=None, key: str = "", timeout: float = 10):
    """(status code, the first 500 characters of the answer), through api/outbound.py: the
    URL is checked again (`OutboundRefused`, nothing sent, when its host is not public and
    not in OUTBOUND_ALLOWED_HOSTS) and redirects are answers. Raises OSError when the
    endpoint cannot be reached."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Idempotency-Key"] = key
    response = outbound_request(
        method,
        url,
        body=json.dumps(body) if body is not None else None,
        headers=headers,
        timeout=timeout,
        max_body=HTTP_ANSWER_CHARS * 4,  # UTF-8: at most 4 bytes a character
    )
    return response.status, response.text()[:HTTP_ANSWER_CHARS]


def call_http(step, at):
    """POST JSON to `config.url` with the step's Idempotency-Key; 2xx is success. When
    `config.health_url` does not answer 2xx, the step waits and is tried again later."""
    config, timeout = step.config, float(step.config.get("timeout", 10))
    health = config.get("health_url")
    if health:
        try:
            healthy = 200 <= http_call("GET", health, timeout=timeout)[0] < 300
        except OSError:
            healthy = False
        if not healthy:
            retry = at + timedelta(seconds=int(config.get("health_retry_seconds", 30)))
            raise StepWait(f"Prerequisite {health} is not healthy.", retry_at=retry)
    order = step.order
    body = config.get("body") or {
        "order": order.pk,
        "kind": order.kind,
        "customer": order.customer.external_id,
        "step": step.key,
    }
    status, text = http_call(
        config.get("method", "POST"),
        config["url"],
        body=body,
        key=step.idempotency_key,
        timeout=timeout,
    )
    if not 200 <= status < 300:
        raise RuntimeError(f"{config['url']} answered {status}.")
    return {"status_code": status, "response": text}


def call_http_undo(step, at):
    url = step.config.get("undo_url")
    if url:
        body = {"order": step.order_id, "step": step.key}
        key = f"{step.idempotency_key}_undo"
        status, _ = http_call("POST", url, body=body, key=key, timeout=10)
        if not 200 <= status < 300:
            raise RuntimeError(f"{url} answered {status}.")


def send_email(step, at):
    """An email (at least once: a worker dying right after sending may send it again)."""
    customer, config = _customer(step), step.config
    owner = _owner(customer)
    to = config.get("to") or [owner.user.email if owner and owner.user.email else customer.email]
    sent = send_mail(
        config.get("subject", "Your account is ready"),
        config.get("body", "Your subscription is active and your account is ready."),
        settings.DEFAULT_FROM_EMAIL,
        [t for t in to if t],
    )
    return {"sent": sent, "to": to}


STEP_TYPES: dict[str, StepType] = {
    "create_account": StepType(create_account, create_account_undo),
    "grant_entitlements": StepType(grant_entitlements, grant_entitlements_undo),
    "assign_seats": StepType(assign_seats, assign_seats_undo),
    "issue_api_key": StepType(issue_api_key, issue_api_key_undo, inline=False),
    "manual_approval": StepType(manual_approval, no_undo),
    "suspend_access": StepType(suspend_access, suspend_access_undo),
    "restore_access": StepType(restore_access, restore_access_undo),
    "schedule_deprovision": StepType(schedule_deprovision, schedule_deprovision_undo),
    "deprovision": StepType(deprovision, no_undo),
    "call_http": StepType(call_http, call_http_undo, external=True, inline=False),
    "send_email": StepType(send_email, no_undo, external=True, inline=False),
}
