from billing.models.events import BillingEvent
from billing.models.invoices import (
    BillRun,
    BillRunFailure,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    InvoiceStatus,
    LineKind,
)
from billing.models.subscriptions import (
    CUSTOMER_CANCEL_REASONS,
    CancelReason,
    Subscription,
    SubscriptionStatus,
    cancel_reason_label,
)

__all__ = [
    "BillRun",
    "BillRunFailure",
    "BillingEvent",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "InvoiceStatus",
    "LineKind",
    "Subscription",
    "SubscriptionStatus",
    "CancelReason",
    "CUSTOMER_CANCEL_REASONS",
    "cancel_reason_label",
]
from billing.models.credits import (  # noqa: E402
    BalanceTransaction,
    BalanceTransactionKind,
    Coupon,
    CouponDuration,
    CouponKind,
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    CreditNoteStatus,
    Discount,
)

__all__ += [
    "BalanceTransaction",
    "BalanceTransactionKind",
    "Coupon",
    "CouponDuration",
    "CouponKind",
    "CreditNote",
    "CreditNoteLine",
    "CreditNoteReason",
    "CreditNoteStatus",
    "Discount",
]
from billing.models.addons import SubscriptionAddOn  # noqa: E402

__all__ += ["SubscriptionAddOn"]
from billing.models.usage import (  # noqa: E402
    UsageAggregate,
    UsageAlert,
    UsageAlertKind,
    UsageDistinctValue,
    UsageEvent,
    UsageEventKey,
)

__all__ += [
    "UsageAggregate",
    "UsageAlert",
    "UsageAlertKind",
    "UsageDistinctValue",
    "UsageEvent",
    "UsageEventKey",
]
from billing.models.dunning import (  # noqa: E402
    DunningCampaign,
    DunningCase,
    DunningStatus,
    FinalAction,
)
from billing.models.payments import (  # noqa: E402
    AttemptStatus,
    BankTransfer,
    BankTransferStatus,
    Gateway,
    GatewayAdapter,
    MethodKind,
    Payment,
    PaymentAllocation,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodStatus,
    PaymentSource,
    PaymentStatus,
    Refund,
    RefundStatus,
    RoutingRule,
)
from billing.models.sandbox import SandboxCharge, SandboxPaymentMethod, SandboxRefund  # noqa: E402

__all__ += [
    "AttemptStatus",
    "BankTransfer",
    "BankTransferStatus",
    "DunningCampaign",
    "DunningCase",
    "DunningStatus",
    "FinalAction",
    "Gateway",
    "GatewayAdapter",
    "MethodKind",
    "Payment",
    "PaymentAllocation",
    "PaymentAttempt",
    "PaymentMethod",
    "PaymentMethodStatus",
    "PaymentSource",
    "PaymentStatus",
    "Refund",
    "RefundStatus",
    "RoutingRule",
    "SandboxCharge",
    "SandboxPaymentMethod",
    "SandboxRefund",
]
from billing.models.sla import SlaCredit  # noqa: E402

__all__ += ["SlaCredit"]
