"""What the payment list exports (CSV, XLSX): the conventions and the Export button are
customers/admin_exports.py's."""

from billing.payments.models.payments import Payment
from customers.admin_exports import ExportResource, money, text, value, when


class PaymentResource(ExportResource):
    id = value("id")
    customer_external_id = text("customer__external_id")
    customer_name = text("customer__name")
    invoice_number = text("invoice__number")
    status = text("status")
    source = text("source")
    kind = text("kind")
    gateway = text("gateway__code")
    gateway_reference = text("gateway_reference")
    bank_reference = text("bank_transfer__bank_reference")
    currency = text("currency")
    amount = money("amount")
    amount_refunded = money("amount_refunded")
    failure_code = text("failure_code")
    failure_message = text("failure_message")
    description = text("description")
    created_at = when("created_at")
    succeeded_at = when("succeeded_at")
    failed_at = when("failed_at")

    select_related = ("customer", "invoice", "gateway", "bank_transfer")

    class Meta:
        model = Payment
        name = "Payments"
        fields = (
            "id",
            "customer_external_id",
            "customer_name",
            "invoice_number",
            "status",
            "source",
            "kind",
            "gateway",
            "gateway_reference",
            "bank_reference",
            "currency",
            "amount",
            "amount_refunded",
            "failure_code",
            "failure_message",
            "description",
            "created_at",
            "succeeded_at",
            "failed_at",
        )
