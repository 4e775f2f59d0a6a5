"""What the subscription, invoice and credit note lists export (CSV, XLSX): the conventions
and the Export button are customers/admin_exports.py's."""

from billing.invoicing.models.credits import CreditNote
from billing.invoicing.models.invoices import Invoice
from billing.subscriptions.models.subscriptions import Subscription
from customers.admin_exports import ExportResource, day, money, text, value, when


class SubscriptionResource(ExportResource):
    id = value("id")
    external_id = text("external_id")
    customer_external_id = text("customer__external_id")
    customer_name = text("customer__name")
    plan_code = text("plan__code")
    plan_version = value("plan__version")
    plan_name = text("plan__name")
    quantity = value("quantity")
    status = text("status")
    currency = text("currency")
    interval = text("interval")
    interval_count = value("interval_count")
    start_date = day("start_date")
    trial_end_at = when("trial_end_at")
    current_period_start = when("current_period_start")
    current_period_end = when("current_period_end")
    cancel_at_period_end = value("cancel_at_period_end")
    canceled_at = when("canceled_at")
    ended_at = when("ended_at")
    cancel_reason = text("cancel_reason")
    paused_at = when("paused_at")
    created_at = when("created_at")

    select_related = ("customer", "plan")

    class Meta:
        model = Subscription
        name = "Subscriptions"
        fields = (
            "id",
            "external_id",
            "customer_external_id",
            "customer_name",
            "plan_code",
            "plan_version",
            "plan_name",
            "quantity",
            "status",
            "currency",
            "interval",
            "interval_count",
            "start_date",
            "trial_end_at",
            "current_period_start",
            "current_period_end",
            "cancel_at_period_end",
            "canceled_at",
            "ended_at",
            "cancel_reason",
            "paused_at",
            "created_at",
        )


class InvoiceResource(ExportResource):
    id = value("id")
    number = text("number")
    status = text("status")
    customer_external_id = text("customer__external_id")
    customer_name = text("customer__name")
    currency = text("currency")
    subtotal = money("subtotal")
    discount = money("discount")
    tax = money("tax")
    total = money("total")
    amount_paid = money("amount_paid")
    amount_due = money("amount_due")
    issued_at = when("issued_at")
    due_at = when("due_at")
    paid_at = when("paid_at")
    voided_at = when("voided_at")
    period_start = when("period_start")
    period_end = when("period_end")
    tax_date = day("tax_date")
    buyer_tax_id = text("buyer_tax_id")
    payment_reference = text("payment_reference")
    created_at = when("created_at")

    select_related = ("customer",)

    class Meta:
        model = Invoice
        name = "Invoices"
        fields = (
            "id",
            "number",
            "status",
            "customer_external_id",
            "customer_name",
            "currency",
            "subtotal",
            "discount",
            "tax",
            "total",
            "amount_paid",
            "amount_due",
            "issued_at",
            "due_at",
            "paid_at",
            "voided_at",
            "period_start",
            "period_end",
            "tax_date",
            "buyer_tax_id",
            "payment_reference",
            "created_at",
        )


class CreditNoteResource(ExportResource):
    id = value("id")
    number = text("number")
    status = text("status")
    reason = text("reason")
    invoice_number = text("invoice__number")
    customer_external_id = text("customer__external_id")
    customer_name = text("customer__name")
    currency = text("currency")
    subtotal = money("subtotal")
    tax = money("tax")
    total = money("total")
    amount_due_reduction = money("amount_due_reduction")
    refund_amount = money("refund_amount")
    credit_amount = money("credit_amount")
    memo = text("memo")
    created_at = when("created_at")

    select_related = ("customer", "invoice")

    class Meta:
        model = CreditNote
        name = "Credit notes"
        fields = (
            "id",
            "number",
            "status",
            "reason",
            "invoice_number",
            "customer_external_id",
            "customer_name",
            "currency",
            "subtotal",
            "tax",
            "total",
            "amount_due_reduction",
            "refund_amount",
            "credit_amount",
            "memo",
            "created_at",
        )
