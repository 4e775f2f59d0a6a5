"""Stripe: customers, stored methods (card, ACH, SEPA) and off-session PaymentIntents.

Calls go through stripe-python's `StripeClient` with an explicit timeout and retry count; a
retry re-sends the same Idempotency-Key, so Stripe answers it with the first result. dj-stripe
mirrors the customers we create and receives the webhooks (`billing.payments.stripe_webhooks`).

Configuration:
- the secret key is `STRIPE_LIVE_SECRET_KEY` when `STRIPE_LIVE_MODE`, else
  `STRIPE_TEST_SECRET_KEY` (the settings dj-stripe reads too; its APIKey rows are not used);
- `STRIPE_API_VERSION` pins the API version; `STRIPE_API_HOST`, when set, replaces
  https://api.stripe.com (the tests point it at billing/tests/stripe_stub.py);
- options of the Gateway row: `{"timeout": 30, "connect_timeout": 5, "max_network_retries": 2}`.

Only Stripe's ids and display data (brand, last4, expiry, bank) come back from here; card
numbers never reach us (the browser sends them to Stripe, we get tok_/pm_/seti_ ids).
"""

import logging
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal

import stripe
from django.conf import settings
from django.db import DatabaseError
from djstripe.models import Customer as StripeCustomer

from billing.payments.gateways.base import (
    Adapter,
    ChargeRequest,
    ChargeResult,
    GatewayCharge,
    GatewayError,
    Outcome,
    RefundResult,
    StoredMethod,
)
from catalog.money import from_minor_units, to_minor_units

logger = logging.getLogger(__name__)
KINDS = ("card", "us_bank_account", "sepa_debit")
PAGE = 100
AUTHENTICATE = "authentication_required"
#: A charge whose reply was lost is looked for in the (strongly consistent) list of the
#: PaymentIntents created this recently when the (eventually consistent) search misses it.
RECENT_SECONDS = 2 * 3600
RECENT_PAGES = 5


def secret_key() -> str:
    live = settings.STRIPE_LIVE_MODE
    return settings.STRIPE_LIVE_SECRET_KEY if live else settings.STRIPE_TEST_SECRET_KEY


def _error_body(error: stripe.StripeError) -> dict:
    body = error.json_body if isinstance(error.json_body, dict) else {}
    return body.get("error") or {}


def _money(minor: int | None, currency: str) -> Decimal | None:
    return None if minor is None else from_minor_units(int(minor), currency.upper())


def _id(value) -> str:
    """An expandable field's id, whether Stripe expanded it or not."""
    return (value.get("id") or "") if isinstance(value, dict) else (value or "")


def _risk_level(intent: dict) -> str:
    charge = intent.get("latest_charge")
    if not isinstance(charge, dict):  # not expanded; or the pre-2022 `charges` list
        charge = ((intent.get("charges") or {}).get("data") or [{}])[0]
    level = ((charge or {}).get("outcome") or {}).get("risk_level") or ""
    return "" if level in ("not_assessed", "unknown") else level


def _summary(intent: dict, error: dict | None = None) -> dict:
    """The short record of a response (ChargeResult.raw): ids, status, codes."""
    error = error or intent.get("last_payment_error") or {}
    charge = _id(intent.get("latest_charge"))
    raw = {"id": intent.get("id"), "status": intent.get("status"), "latest_charge": charge}
    raw.update({k: error.get(k) for k in ("code", "decline_code")})
    return {k: v for k, v in raw.items() if v}


def _failure_result(error: dict, intent: dict) -> ChargeResult:
    """A card error (on the call or as the intent's last_payment_error) as an outcome."""
    code = error.get("code") or ""
    outcome, action = Outcome.DECLINED, {}
    decline_code = error.get("decline_code") or code or "card_declined"
    if code == "processing_error":  # Stripe or the network failed: the next gateway may not
        outcome, decline_code = Outcome.ERROR, code
    elif AUTHENTICATE in (code, decline_code):  # the customer must come back (3-D Secure)
        outcome, decline_code = Outcome.REQUIRES_ACTION, AUTHENTICATE
        action = {"type": "authenticate_on_session", "payment_intent": intent.get("id")}
    message, raw = error.get("message") or "", _summary(intent, error)
    reference = intent.get("id") or ""
    return ChargeResult(outcome, reference, decline_code, message, next_action=action, raw=raw)


def _next_action(intent: dict) -> dict:
    action = intent.get("next_action") or {}
    kept = {"type": action.get("type") or "", "payment_intent": intent.get("id")}
    url = (action.get("redirect_to_url") or {}).get("url")
    return {**kept, "url": url} if url else kept


def intent_result(intent: dict) -> ChargeResult:
    """A PaymentIntent (a dict, as from the API or a webhook's event data) as an outcome."""
    status, currency = intent.get("status"), intent.get("currency") or "usd"
    reference, raw = intent.get("id") or "", _summary(intent)
    if status == "succeeded":
        amount = _money(intent.get("amount_received") or intent.get("amount"), currency)
        return ChargeResult(
            Outcome.SUCCEEDED, reference, risk_level=_risk_level(intent), amount=amount, raw=raw
        )
    if status in ("processing", "requires_capture"):
        amount = _money(intent.get("amount"), currency)
        return ChargeResult(Outcome.PROCESSING, reference, amount=amount, raw=raw)
    if status == "requires_action":
        action = _next_action(intent)
        return ChargeResult(
            Outcome.REQUIRES_ACTION, reference, AUTHENTICATE, next_action=action, raw=raw
        )
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        return _failure_result(intent["last_payment_error"], intent)
    if status == "canceled":
        reason = intent.get("cancellation_reason") or "canceled"
        return ChargeResult(Outcome.DECLINED, reference, reason, "Canceled at Stripe.", raw=raw)
    # requires_payment_method / requires_confirmation without an error: never charged
    return ChargeResult(Outcome.ERROR, reference, status or "unexpected", raw=raw)


@contextmanager
def _refusals():
    """Stripe's refusal of a call that is not a charge, as a GatewayError."""
    try:
        yield
    except stripe.StripeError as error:
        raise _gateway_error(error) from None


def _gateway_error(error: stripe.StripeError) -> GatewayError:
    body = _error_body(error)
    if isinstance(error, stripe.APIConnectionError):
        return GatewayError("Stripe did not answer in time.", code="gateway_unavailable")
    code = body.get("decline_code") or body.get("code") or "gateway_error"
    return GatewayError(body.get("message") or error.user_message or "Stripe refused.", code=code)


class StripeAdapter(Adapter):
    def __init__(self, options: dict | None = None):
        super().__init__(options)
        self._client: stripe.StripeClient | None = None

    def available(self) -> bool:
        return bool(secret_key())

    @property
    def client(self) -> stripe.StripeClient:
        if self._client is None:
            host = getattr(settings, "STRIPE_API_HOST", "") or stripe.DEFAULT_API_BASE
            timeout = float(self.options.get("timeout", 30))
            connect = float(self.options.get("connect_timeout", min(timeout, 5)))
            self._client = stripe.StripeClient(
                secret_key(),
                stripe_version=settings.STRIPE_API_VERSION,
                base_addresses={"api": host},
                max_network_retries=int(self.options.get("max_network_retries", 2)),
                http_client=stripe.RequestsClient(timeout=(connect, timeout)),
            )
        return self._client

    # Customers and stored methods
    def customer_setup(self, *, customer_id: int, email: str, name: str) -> str:
        """Our customer's Stripe customer: the one dj-stripe mirrors or Stripe finds by
        metadata customer_id, else a new one (idempotency key from our id)."""
        mirrored = self._mirrored_customer(customer_id)
        if mirrored:
            return mirrored
        v1, metadata = self.client.v1, _customer_metadata(customer_id)
        query = " AND ".join(f"metadata['{k}']:'{v}'" for k, v in metadata.items())
        key = f"{settings.PAYMENT_IDEMPOTENCY_PREFIX}customer-{customer_id}"
        with _refusals():
            found = v1.customers.search({"query": query})
            customer = found.data[0] if found.data else None
            if customer is None:
                params = {"email": email, "name": name, "metadata": metadata}
                customer = v1.customers.create(params, {"idempotency_key": key})
        self._mirror(customer)
        return customer.id

    def _mirrored_customer(self, customer_id: int) -> str:
        lookups = {f"metadata__{k}": v for k, v in _customer_metadata(customer_id).items()}
        found = StripeCustomer.objects.filter(
            **lookups,
            livemode=settings.STRIPE_LIVE_MODE,
            date_purged__isnull=True,
        ).order_by("-created")
        return next((c.id for c in found if not c.deleted), "")

    def _mirror(self, customer: stripe.Customer) -> None:
        """Keep dj-stripe's Customer table in step (its admin, its webhooks); the id we
        return does not depend on it, so a failure here is only logged."""
        try:
            StripeCustomer.sync_from_stripe_data(customer.to_dict(), api_key=secret_key())
        except (stripe.StripeError, DatabaseError):
            logger.warning("dj-stripe could not mirror Stripe customer %s", customer.id)

    def payment_method_store(self, *, gateway_customer_id: str, token: str) -> StoredMethod:
        """Attach a pm_… (from Elements), a tok_… (a card token) or a succeeded seti_…'s
        payment method to the customer; its display data only comes back."""
        v1 = self.client.v1
        with _refusals():
            if token.startswith("seti_"):
                intent = v1.setup_intents.retrieve(token)
                if intent.status != "succeeded" or not intent.payment_method:
                    raise GatewayError("The setup is not complete.", code="setup_incomplete")
                token = _id(intent.payment_method)
            elif token.startswith("tok_"):
                token = v1.payment_methods.create({"type": "card", "card": {"token": token}}).id
            elif not token.startswith("pm_"):
                raise GatewayError("Give a Stripe pm_…, tok_… or seti_… id.", code="invalid_token")
            method = v1.payment_methods.retrieve(token)
            owner = _id(method.customer)
            if owner and owner != gateway_customer_id:
                raise GatewayError("It belongs to another customer.", code="invalid_token")
            if not owner:
                method = v1.payment_methods.attach(token, {"customer": gateway_customer_id})
        return self._stored(method.to_dict())

    @staticmethod
    def _stored(method: dict) -> StoredMethod:
        """Display data: card brand/last4/expiry/country; ACH bank name; SEPA bank code."""
        kind = method.get("type")
        if kind not in KINDS:
            raise GatewayError(f"Stripe {kind} methods are not supported.", code="not_supported")
        shown = {k: v for k, v in (method.get(kind) or {}).items() if v is not None}
        return StoredMethod(
            token=method["id"],
            kind=kind,
            brand=shown.get("brand", ""),
            last4=shown.get("last4", ""),
            exp_month=shown.get("exp_month"),
            exp_year=shown.get("exp_year"),
            bank_name=shown.get("bank_name") or shown.get("bank_code", ""),
            country=shown.get("country", "US" if kind == "us_bank_account" else ""),
            fingerprint=shown.get("fingerprint", ""),
        )

    def setup_intent_create(self, *, gateway_customer_id: str, kinds: list[str]) -> str:
        """A SetupIntent for Stripe Elements in the portal; returns its client_secret."""
        unknown = set(kinds) - set(KINDS)
        if unknown or not kinds:
            raise GatewayError(f"Unsupported kinds: {sorted(unknown)}.", code="not_supported")
        params = {
            "customer": gateway_customer_id,
            "usage": "off_session",
            "payment_method_types": kinds,
        }
        with _refusals():
            return self.client.v1.setup_intents.create(params).client_secret

    # Charges
    def charge(self, request: ChargeRequest) -> ChargeResult:
        metadata = {str(k)[:40]: str(v)[:500] for k, v in request.metadata.items()}
        params = {
            "amount": to_minor_units(request.amount, request.currency),
            "currency": request.currency.lower(),
            "payment_method": request.method_token,
            "payment_method_types": [request.method_kind],
            "confirm": True,
            "off_session": True,
            "metadata": {**metadata, "idempotency_key": request.idempotency_key},
            "expand": ["latest_charge"],
        }
        if request.gateway_customer_id:
            params["customer"] = request.gateway_customer_id
        if request.description:
            params["description"] = request.description[:1000]
        options = {"idempotency_key": request.idempotency_key}
        try:
            intent = self.client.v1.payment_intents.create(params, options).to_dict()
        except stripe.CardError as error:
            body = _error_body(error)
            return _failure_result(body, body.get("payment_intent") or {})
        except stripe.APIConnectionError as error:  # it may have reached Stripe: ask later
            logger.warning("Stripe charge %s: no answer (%s)", request.idempotency_key, error)
            return ChargeResult(Outcome.UNKNOWN, code="timeout", message="Stripe did not answer.")
        except stripe.StripeError as error:  # 5xx, 429, 401, 400: nothing was charged
            return self._error_result(error)
        return intent_result(intent)

    @staticmethod
    def _error_result(error: stripe.StripeError) -> ChargeResult:
        body = _error_body(error)
        code, message = body.get("code") or type(error).__name__, body.get("message") or ""
        raw = {"http_status": error.http_status, "type": body.get("type"), "code": code}
        return ChargeResult(Outcome.ERROR, code=code, message=message[:200], raw=raw)

    def charge_status(self, *, idempotency_key: str, reference: str = "") -> ChargeResult:
        """By reference, else by the idempotency key in the metadata. A lookup that fails is
        UNKNOWN (still not known), never a guess."""
        try:
            if reference:
                intent = self.client.v1.payment_intents.retrieve(
                    reference, {"expand": ["latest_charge"]}
                ).to_dict()
            else:
                intent = self._intent_by_key(idempotency_key)
        except stripe.InvalidRequestError as error:
            if _error_body(error).get("code") == "resource_missing":
                return ChargeResult(Outcome.NOT_FOUND, reference)
            return ChargeResult(Outcome.UNKNOWN, reference, code="status_lookup_failed")
        except stripe.StripeError:
            return ChargeResult(Outcome.UNKNOWN, reference, code="status_lookup_failed")
        return intent_result(intent) if intent else ChargeResult(Outcome.NOT_FOUND)

    def _intent_by_key(self, idempotency_key: str) -> dict | None:
        quoted = idempotency_key.replace("\\", "\\\\").replace("'", "\\'")
        found = self.client.v1.payment_intents.search(
            {"query": f"metadata['idempotency_key']:'{quoted}'", "expand": ["data.latest_charge"]}
        )
        if found.data:
            return found.data[0].to_dict()
        since = int(time.time()) - RECENT_SECONDS
        for seen, intent in enumerate(self._intents_since(since), start=1):
            if intent.get("metadata", {}).get("idempotency_key") == idempotency_key:
                return intent
            if seen >= RECENT_PAGES * PAGE:
                break
        return None

    def _intents_since(self, since: int):
        params = {"created": {"gte": since}, "limit": PAGE, "expand": ["data.latest_charge"]}
        while True:
            listed = self.client.v1.payment_intents.list(params)
            intents = [intent.to_dict() for intent in listed.data]
            yield from intents
            if not listed.has_more or not intents:
                return
            params = {**params, "starting_after": intents[-1]["id"]}

    def charges_list(self, *, since: datetime) -> list[GatewayCharge]:
        with _refusals():
            intents = list(self._intents_since(int(since.timestamp())))
        return [
            GatewayCharge(
                reference=intent["id"],
                idempotency_key=(intent.get("metadata") or {}).get("idempotency_key", ""),
                amount=_money(intent["amount_received"] or intent["amount"], intent["currency"]),
                currency=intent["currency"].upper(),
                status=intent_result(intent).outcome,
                created_at=datetime.fromtimestamp(intent["created"], tz=UTC),
                metadata=intent.get("metadata") or {},
            )
            for intent in intents
        ]

    def refund(
        self, *, idempotency_key: str, reference: str, amount: Decimal, currency: str
    ) -> RefundResult:
        params = {
            "payment_intent": reference,
            "amount": to_minor_units(amount, currency),
            "metadata": {"idempotency_key": idempotency_key},
        }
        try:
            refund = self.client.v1.refunds.create(params, {"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as error:  # already refunded, too much, …
            body = _error_body(error)
            message = f"{body.get('code') or 'refused'}: {body.get('message') or ''}"
            return RefundResult(Outcome.DECLINED, message=message[:500])
        except stripe.APIConnectionError:
            return RefundResult(Outcome.UNKNOWN, message="Stripe did not answer.")
        except stripe.StripeError as error:
            return RefundResult(Outcome.ERROR, message=str(_gateway_error(error))[:500])
        if refund.status in ("succeeded", "pending"):  # pending: bank debits settle later
            return RefundResult(Outcome.SUCCEEDED, reference=refund.id)
        return RefundResult(Outcome.DECLINED, refund.id, f"Refund {refund.status} at Stripe.")

    # Used by the webhooks and the portal
    def charge_payment_method(self, charge_id: str) -> str:
        """The pm_… a charge was made with (a Radar early fraud warning names the charge)."""
        with _refusals():
            return _id(self.client.v1.charges.retrieve(charge_id).payment_method)

    def intent_client_secret(self, reference: str) -> str:
        """The client_secret a browser needs to finish 3-D Secure (stripe.handleNextAction)."""
        with _refusals():
            return self.client.v1.payment_intents.retrieve(reference).client_secret


def _customer_metadata(customer_id: int) -> dict:
    """How our customer is named at Stripe; with PAYMENT_IDEMPOTENCY_PREFIX set (several
    installations sharing one Stripe account) the prefix is part of it."""
    prefix = settings.PAYMENT_IDEMPOTENCY_PREFIX
    return {"customer_id": str(customer_id), **({"installation": prefix} if prefix else {})}
