"""The gateway interface every adapter implements, and the results it speaks in.

Adapters talk to one gateway and nothing else: no database writes of ours, no transactions
(they are called outside any, see `billing.payments.services.payments`). Amounts cross the boundary
as Decimal in the currency's precision; adapters convert to minor units themselves
(`catalog.money.to_minor_units`), never `* 100`.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    DECLINED = "declined"  # the bank said no: do not fail over
    REQUIRES_ACTION = "requires_action"  # 3-D Secure: the customer must authenticate
    PROCESSING = "processing"  # accepted, settles later (ACH, SEPA): a webhook tells
    UNKNOWN = "unknown"  # sent, no answer (timeout): ask later, never charge again
    ERROR = "error"  # the gateway failed and did not charge: fail over to the next one
    NOT_FOUND = "not_found"  # (status only) the gateway never saw this idempotency key


class GatewayError(Exception):
    """A call that could not be made or was refused outright (not a charge outcome)."""

    def __init__(self, message: str, *, code: str = "gateway_error"):
        super().__init__(message)
        self.message, self.code = message, code


@dataclass(frozen=True)
class ChargeRequest:
    idempotency_key: str
    amount: Decimal
    currency: str
    method_token: str
    method_kind: str
    gateway_customer_id: str = ""
    description: str = ""
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeResult:
    outcome: Outcome
    reference: str = ""  # the gateway's id of the charge (pi_…, sbx_ch_…)
    code: str = ""  # decline or error code
    message: str = ""
    risk_level: str = ""  # Radar's risk level when the gateway has one
    next_action: dict = field(default_factory=dict)
    amount: Decimal | None = None  # what the gateway says it charged
    raw: dict = field(default_factory=dict)  # a short summary of the response, for the record


@dataclass(frozen=True)
class RefundResult:
    outcome: Outcome  # SUCCEEDED, DECLINED (refused), UNKNOWN or ERROR
    reference: str = ""
    message: str = ""


@dataclass(frozen=True)
class StoredMethod:
    """What the gateway returned for a stored payment method: its token and display data."""

    token: str
    kind: str  # billing.models.MethodKind
    brand: str = ""
    last4: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    bank_name: str = ""
    country: str = ""
    fingerprint: str = ""


@dataclass(frozen=True)
class GatewayCharge:
    """A charge as the gateway knows it (for reconciliation)."""

    reference: str
    idempotency_key: str
    amount: Decimal
    currency: str
    status: Outcome
    created_at: datetime | None = None
    metadata: dict = field(default_factory=dict)


class Adapter:
    """One gateway. `options` are the Gateway row's options."""

    #: Whether this adapter charges stored methods off-session (bank transfer does not).
    charges = True

    def __init__(self, options: dict | None = None):
        self.options = options or {}

    def available(self) -> bool:
        """Configured and usable (e.g. Stripe needs its keys)."""
        return True

    def customer_setup(self, *, customer_id: int, email: str, name: str) -> str:
        """The gateway's customer id for our customer (created when needed)."""
        raise NotImplementedError

    def payment_method_store(self, *, gateway_customer_id: str, token: str) -> StoredMethod:
        """Attach a token from the client (tok_…, pm_…, a SetupIntent's method) to the
        gateway customer; raise GatewayError when the gateway refuses it."""
        raise NotImplementedError

    def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge a stored method off-session, once per idempotency key."""
        raise NotImplementedError

    def charge_status(self, *, idempotency_key: str, reference: str = "") -> ChargeResult:
        """What became of a charge: by its reference, or by the idempotency key it was sent
        with when the reply was lost. NOT_FOUND when the gateway never received it."""
        raise NotImplementedError

    def refund(
        self, *, idempotency_key: str, reference: str, amount: Decimal, currency: str
    ) -> RefundResult:
        raise NotImplementedError

    def charges_list(self, *, since: datetime) -> list[GatewayCharge]:
        """Charges the gateway made since `since` (reconciliation)."""
        raise NotImplementedError
