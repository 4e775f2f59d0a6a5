"""The sandbox gateway: offline, and behaving like Stripe does for its published test tokens
and card numbers, so the whole product runs and demos without a network.

Its "remote side" is a ledger of its own (billing.payments.models.sandbox), written as a
real gateway would: one charge per idempotency key, kept even when the reply to us is lost
(timeout).

| token / card number                                       | charge outcome                |
|-----------------------------------------------------------|-------------------------------|
| tok_visa 4242424242424242, tok_mastercard 5555555555554444 | succeeded                     |
| tok_gb, tok_de, tok_fr, tok_jp, tok_ca (Visa of that country) | succeeded                 |
| tok_chargeDeclined 4000000000000002                       | declined: generic_decline     |
| tok_chargeDeclinedInsufficientFunds 4000000000009995      | declined: insufficient_funds  |
| tok_chargeDeclinedExpiredCard 4000000000000069            | declined: expired_card        |
| tok_chargeDeclinedFraudulent 4100000000000019             | declined: fraudulent          |
| tok_chargeDeclinedProcessingError 4000000000000119        | gateway error (failover)      |
| tok_threeDSecureRequired 4000002760003184                 | requires 3-D Secure           |
| tok_riskLevelElevated 4000000000009235 / Highest 4000000000004954 | succeeded, Radar risk |
| tok_sandboxTimeout 4000000000000408                       | charged, but the reply is lost |
| tok_us_bank_account, tok_sepa_debit                       | processing, then succeeded    |

Options of the Gateway row: {"outage": true} fails every call with a gateway error.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction

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
from billing.payments.models.sandbox import SandboxCharge, SandboxPaymentMethod, SandboxRefund
from catalog.money import from_minor_units, to_minor_units

EXPIRY = (12, 2034)


@dataclass(frozen=True)
class TestCard:
    kind: str = "card"
    brand: str = "visa"
    last4: str = "4242"
    country: str = "US"
    outcome: Outcome = Outcome.SUCCEEDED
    code: str = ""
    risk_level: str = "normal"
    bank_name: str = ""


def _card(last4: str, **kwargs) -> TestCard:
    return TestCard(last4=last4, **kwargs)


TEST_TOKENS: dict[str, TestCard] = {
    "tok_visa": _card("4242"),
    "tok_mastercard": _card("4444", brand="mastercard"),
    "tok_gb": _card("0005", country="GB"),
    "tok_de": _card("0016", country="DE"),
    "tok_fr": _card("0003", country="FR"),
    "tok_jp": _card("0003", country="JP"),
    "tok_ca": _card("0000", country="CA"),
    "tok_chargeDeclined": _card("0002", outcome=Outcome.DECLINED, code="generic_decline"),
    "tok_chargeDeclinedInsufficientFunds": _card(
        "9995", outcome=Outcome.DECLINED, code="insufficient_funds"
    ),
    "tok_chargeDeclinedExpiredCard": _card("0069", outcome=Outcome.DECLINED, code="expired_card"),
    "tok_chargeDeclinedFraudulent": _card(
        "0019", outcome=Outcome.DECLINED, code="fraudulent", risk_level="highest"
    ),
    "tok_chargeDeclinedProcessingError": _card(
        "0119", outcome=Outcome.ERROR, code="processing_error"
    ),
    "tok_threeDSecureRequired": _card(
        "3184", outcome=Outcome.REQUIRES_ACTION, code="authentication_required"
    ),
    "tok_riskLevelElevated": _card("9235", risk_level="elevated"),
    "tok_riskLevelHighest": _card("4954", risk_level="highest"),
    "tok_sandboxTimeout": _card("0408", outcome=Outcome.UNKNOWN, code="timeout"),
    "tok_us_bank_account": TestCard(
        kind="us_bank_account",
        brand="",
        last4="6789",
        outcome=Outcome.PROCESSING,
        bank_name="STRIPE TEST BANK",
    ),
    "tok_sepa_debit": TestCard(
        kind="sepa_debit",
        brand="",
        last4="3000",
        country="DE",
        outcome=Outcome.PROCESSING,
        bank_name="Sandbox Bank (DE)",
    ),
}
CARD_NUMBERS = {
    "4242424242424242": "tok_visa",
    "5555555555554444": "tok_mastercard",
    "4000000000000002": "tok_chargeDeclined",
    "4000000000009995": "tok_chargeDeclinedInsufficientFunds",
    "4000000000000069": "tok_chargeDeclinedExpiredCard",
    "4100000000000019": "tok_chargeDeclinedFraudulent",
    "4000000000000119": "tok_chargeDeclinedProcessingError",
    "4000002760003184": "tok_threeDSecureRequired",
    "4000000000009235": "tok_riskLevelElevated",
    "4000000000004954": "tok_riskLevelHighest",
    "4000000000000408": "tok_sandboxTimeout",
    "4000008260000000": "tok_gb",
    "4000002760000016": "tok_de",
}
MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "fraudulent": "Your card was declined.",
    "processing_error": "An error occurred while processing your card. Try again.",
    "authentication_required": "The card requires authentication (3-D Secure).",
    "authentication_failed": "The customer did not authenticate the payment.",
    "debit_failed": "The bank debit was returned.",
}


def test_token_for(card_number: str) -> str | None:
    """The test token of a published test card number (spaces allowed), for the sandbox card
    form; None for any other number. The number itself is never stored."""
    return CARD_NUMBERS.get("".join(card_number.split()))


def _reference(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


class SandboxAdapter(Adapter):
    def _check_outage(self) -> None:
        if self.options.get("outage"):
            raise GatewayError("The sandbox gateway is in simulated outage.", code="outage")

    def customer_setup(self, *, customer_id: int, email: str, name: str) -> str:
        self._check_outage()
        return f"sbx_cus_{customer_id}"

    def payment_method_store(self, *, gateway_customer_id: str, token: str) -> StoredMethod:
        self._check_outage()
        test_token = test_token_for(token) or token
        card = TEST_TOKENS.get(test_token)
        if card is None:
            raise GatewayError(
                f"No such token: {token[:4]}… Use a published test token such as tok_visa.",
                code="invalid_token",
            )
        method = SandboxPaymentMethod.objects.create(
            reference=_reference("sbx_pm"),
            test_token=test_token,
            customer_reference=gateway_customer_id,
        )
        is_card = card.kind == "card"
        return StoredMethod(
            token=method.reference,
            kind=card.kind,
            brand=card.brand,
            last4=card.last4,
            exp_month=EXPIRY[0] if is_card else None,
            exp_year=EXPIRY[1] if is_card else None,
            bank_name=card.bank_name,
            country=card.country,
            fingerprint=f"sbx_fp_{test_token}",
        )

    def _card_of(self, method_reference: str) -> TestCard:
        method = SandboxPaymentMethod.objects.filter(reference=method_reference).first()
        if method is None:
            raise GatewayError("No such payment method.", code="resource_missing")
        return TEST_TOKENS[method.test_token]

    def charge(self, request: ChargeRequest) -> ChargeResult:
        try:
            self._check_outage()
            card = self._card_of(request.method_token)
        except GatewayError as error:
            return ChargeResult(Outcome.ERROR, code=error.code, message=error.message)
        if card.outcome == Outcome.ERROR:  # refused before anything was recorded
            return ChargeResult(Outcome.ERROR, code=card.code, message=MESSAGES[card.code])
        status = {
            Outcome.UNKNOWN: Outcome.SUCCEEDED,  # charged; only the reply gets lost
        }.get(card.outcome, card.outcome)
        charge = self._record_charge(request, status=status, code=card.code)
        if card.outcome == Outcome.UNKNOWN:
            return ChargeResult(Outcome.UNKNOWN, code="timeout", message="No reply in time.")
        return self._result(charge, card)

    @transaction.atomic
    def _record_charge(self, request: ChargeRequest, *, status: str, code: str) -> SandboxCharge:
        existing = SandboxCharge.objects.filter(idempotency_key=request.idempotency_key).first()
        if existing is not None:  # an idempotent replay: the first answer again
            return existing
        try:
            with transaction.atomic():
                return SandboxCharge.objects.create(
                    reference=_reference("sbx_ch"),
                    idempotency_key=request.idempotency_key,
                    payment_method=request.method_token,
                    amount=to_minor_units(request.amount, request.currency),
                    currency=request.currency,
                    status=status,
                    code=code,
                    metadata=request.metadata,
                )
        except IntegrityError:
            return SandboxCharge.objects.get(idempotency_key=request.idempotency_key)

    def _result(self, charge: SandboxCharge, card: TestCard | None = None) -> ChargeResult:
        card = card or self._card_of(charge.payment_method)
        outcome = Outcome(charge.status)
        next_action = {}
        if outcome == Outcome.REQUIRES_ACTION:
            next_action = {
                "type": "redirect_to_url",
                "url": f"/sandbox/authenticate/{charge.reference}/",
            }
        return ChargeResult(
            outcome,
            reference=charge.reference,
            code=charge.code if outcome != Outcome.SUCCEEDED else "",
            message=MESSAGES.get(charge.code, "") if outcome == Outcome.DECLINED else "",
            risk_level=card.risk_level,
            next_action=next_action,
            amount=from_minor_units(charge.amount, charge.currency),
            raw={"id": charge.reference, "status": charge.status},
        )

    def charge_status(self, *, idempotency_key: str, reference: str = "") -> ChargeResult:
        self._check_outage()
        charges = SandboxCharge.objects.all()
        charge = (
            charges.filter(reference=reference).first()
            if reference
            else charges.filter(idempotency_key=idempotency_key).first()
        )
        if charge is None:
            return ChargeResult(Outcome.NOT_FOUND)
        return self._result(charge)

    def refund(
        self, *, idempotency_key: str, reference: str, amount: Decimal, currency: str
    ) -> RefundResult:
        self._check_outage()
        with transaction.atomic():
            charge = SandboxCharge.objects.select_for_update().filter(reference=reference).first()
            if charge is None or charge.status != Outcome.SUCCEEDED:
                return RefundResult(Outcome.DECLINED, message="No succeeded charge to refund.")
            done = SandboxRefund.objects.filter(idempotency_key=idempotency_key).first()
            if done is not None:
                return RefundResult(Outcome.SUCCEEDED, reference=done.reference)
            minor = to_minor_units(amount, currency)
            if minor > charge.amount - charge.amount_refunded:
                return RefundResult(
                    Outcome.DECLINED, message="The refund exceeds what is left of the charge."
                )
            refund = SandboxRefund.objects.create(
                reference=_reference("sbx_re"),
                idempotency_key=idempotency_key,
                charge=charge,
                amount=minor,
            )
            charge.amount_refunded += minor
            charge.save(update_fields=["amount_refunded"])
        return RefundResult(Outcome.SUCCEEDED, reference=refund.reference)

    def charges_list(self, *, since: datetime) -> list[GatewayCharge]:
        self._check_outage()
        return [
            GatewayCharge(
                reference=charge.reference,
                idempotency_key=charge.idempotency_key,
                amount=from_minor_units(charge.amount, charge.currency),
                currency=charge.currency,
                status=Outcome(charge.status),
                created_at=charge.created_at,
                metadata=charge.metadata,
            )
            for charge in SandboxCharge.objects.filter(created_at__gte=since).order_by("pk")
        ]


# Operations a real gateway does on its own side, later (used by the sandbox pages and
# tests): the customer authenticates a 3-D Secure charge; a bank debit settles.
def sandbox_charge_settle(*, reference: str, succeed: bool = True) -> SandboxCharge:
    with transaction.atomic():
        charge = SandboxCharge.objects.select_for_update().get(reference=reference)
        if charge.status in (Outcome.REQUIRES_ACTION, Outcome.PROCESSING):
            if not succeed:
                failed = {Outcome.REQUIRES_ACTION: "authentication_failed"}
                charge.code = failed.get(charge.status, "debit_failed")
            charge.status = Outcome.SUCCEEDED if succeed else Outcome.DECLINED
            charge.save(update_fields=["status", "code"])
    return charge
