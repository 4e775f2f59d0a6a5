"""Every billing model, for Django (the `billing` app label) and for the apps above billing.
Each model lives in its domain package (billing/<package>/models); code inside billing imports
it from there, never from here (import-linter would see an upward import)."""

from billing.dunning.models import (
    DunningCampaign,
    DunningCase,
    DunningStatus,
    FinalAction,
)
from billing.events.models import (
    BillingEvent,
)
from billing.invoicing.models.credits import (
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
from billing.invoicing.models.invoices import (
    BillRun,
    BillRunFailure,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    InvoiceStatus,
    LineKind,
)
from billing.invoicing.models.sla import (
    SlaCredit,
)
from billing.notices.models import (
    NoticeEventCursor,
)
from billing.payments.models.payments import (
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
from billing.payments.models.sandbox import (
    SandboxCharge,
    SandboxPaymentMethod,
    SandboxRefund,
)
from billing.subscriptions.models.addons import (
    SubscriptionAddOn,
)
from billing.subscriptions.models.subscriptions import (
    CUSTOMER_CANCEL_REASONS,
    CancelReason,
    Subscription,
    SubscriptionStatus,
    cancel_reason_label,
)
from billing.tax.models import (
    Rounding,
    TaxRateOverride,
    TaxRegistration,
    TaxSettings,
)
from billing.usage.models import (
    UsageAggregate,
    UsageAlert,
    UsageAlertKind,
    UsageDistinctValue,
    UsageEvent,
    UsageEventKey,
)

__all__ = [
    "AttemptStatus",
    "BalanceTransaction",
    "BalanceTransactionKind",
    "BankTransfer",
    "BankTransferStatus",
    "BillRun",
    "BillRunFailure",
    "BillingEvent",
    "CUSTOMER_CANCEL_REASONS",
    "CancelReason",
    "Coupon",
    "CouponDuration",
    "CouponKind",
    "CreditNote",
    "CreditNoteLine",
    "CreditNoteReason",
    "CreditNoteStatus",
    "Discount",
    "DunningCampaign",
    "DunningCase",
    "DunningStatus",
    "FinalAction",
    "Gateway",
    "GatewayAdapter",
    "Invoice",
    "InvoiceLine",
    "InvoiceNumberSequence",
    "InvoiceStatus",
    "LineKind",
    "MethodKind",
    "NoticeEventCursor",
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
    "SlaCredit",
    "Rounding",
    "TaxRateOverride",
    "TaxRegistration",
    "TaxSettings",
    "Subscription",
    "SubscriptionAddOn",
    "SubscriptionStatus",
    "UsageAggregate",
    "UsageAlert",
    "UsageAlertKind",
    "UsageDistinctValue",
    "UsageEvent",
    "UsageEventKey",
    "cancel_reason_label",
]
