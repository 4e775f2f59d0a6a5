"""Bank transfers and the reconciliation report (`/bank-transfers/`, `/reconciliation/`).
Each view makes one service call."""

from datetime import timedelta

import django_filters
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import DomainError
from api.fields import AwareDateTimeField
from api.filters import customer_filter
from api.serializers import StrictSerializer
from api.views import ApiViewSet, ListRetrieveMixin, lookup_required
from billing.invoicing.models.invoices import Invoice
from billing.payments.models.payments import BankTransfer
from billing.payments.services.bank_statements import bank_statement_import
from billing.payments.services.bank_transfers import (
    bank_transfer_assign,
    bank_transfer_ignore,
    bank_transfer_record,
)
from billing.payments.services.reconciliation import reconciliation_report
from catalog.api.fields import MoneyAmountField, amount_field
from customers.models import Customer

MAX_STATEMENT_BYTES = 5 * 1024 * 1024
DEFAULT_SINCE = timedelta(days=30)


# Serializers
class BankTransferCreateInputSerializer(StrictSerializer):
    bank_reference = serializers.CharField(
        max_length=100, help_text="The bank's id of the transaction; the same one twice is one."
    )
    amount = amount_field(help_text="Received, in the currency's precision; above 0.")
    currency = serializers.CharField(max_length=3)
    received_at = AwareDateTimeField()
    payer_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    payer_account = serializers.CharField(max_length=64, required=False, allow_blank=True)
    remittance = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        help_text="The reference text: invoice payment references (RF…) or a customer id.",
    )


class BankTransferAssignInputSerializer(StrictSerializer):
    customer = serializers.CharField(max_length=100, help_text="Customer id or external_id.")
    invoices = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        allow_empty=True,
        help_text="Invoice ids or numbers to pay, in order; leave out for the customer's open "
        "invoices, oldest due first. What is left goes to the customer balance.",
    )


class BankTransferIgnoreInputSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=300)


class BankStatementInputSerializer(StrictSerializer):
    file = serializers.FileField(
        help_text="CSV with a header row: date, amount, currency, reference, remittance, "
        "payer name, payer account."
    )


class BankTransferOutputSerializer(serializers.ModelSerializer):
    amount = MoneyAmountField()
    customer = serializers.SlugRelatedField(
        slug_field="external_id", read_only=True, allow_null=True, help_text="Null until matched."
    )
    invoices = serializers.SerializerMethodField(help_text="Numbers of the invoices it paid.")

    class Meta:
        model = BankTransfer
        fields = [
            "id",
            "bank_reference",
            "amount",
            "currency",
            "received_at",
            "payer_name",
            "payer_account",
            "remittance",
            "status",
            "customer",
            "payment",
            "invoices",
            "statement",
            "created_at",
        ]

    def get_invoices(self, transfer) -> list[str]:
        if transfer.payment is None:
            return []
        return [a.invoice.number for a in transfer.payment.allocations.all()]


class RowMessageOutputSerializer(serializers.Serializer):
    row = serializers.IntegerField(help_text="Row of the file; the header is row 1.")
    message = serializers.CharField()


class BankStatementOutputSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Rows recorded before (no change).")
    matched = serializers.IntegerField(help_text="New transfers matched to a customer.")
    skipped = RowMessageOutputSerializer(many=True, help_text="Outgoing payments.")
    errors = RowMessageOutputSerializer(many=True, help_text="Rows not imported, and why.")


class UnmatchedTransferOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    bank_reference = serializers.CharField()
    amount = MoneyAmountField()
    currency = serializers.CharField()
    received_at = serializers.DateTimeField()
    payer_name = serializers.CharField()
    remittance = serializers.CharField()


class GatewayChargeFindingOutputSerializer(serializers.Serializer):
    gateway = serializers.CharField()
    problem = serializers.CharField(
        help_text="not_recorded, payment_not_succeeded, invoice_open, charged_twice or "
        "amount_mismatch."
    )
    reference = serializers.CharField(help_text="The gateway's id of the charge.")
    idempotency_key = serializers.CharField()
    amount = MoneyAmountField(help_text="What the gateway charged.")
    currency = serializers.CharField()
    created_at = serializers.DateTimeField(allow_null=True)
    payment = serializers.IntegerField(source="payment_id", allow_null=True)
    payment_status = serializers.CharField()
    payment_amount = MoneyAmountField(currency="payment_currency", allow_null=True)
    payment_currency = serializers.CharField()
    invoice = serializers.IntegerField(source="invoice_id", allow_null=True)
    invoice_number = serializers.CharField()
    invoice_status = serializers.CharField()


class InvoiceMismatchOutputSerializer(serializers.Serializer):
    invoice = serializers.IntegerField(source="invoice_id")
    number = serializers.CharField()
    customer = serializers.CharField()
    currency = serializers.CharField()
    status = serializers.CharField()
    amount_paid = MoneyAmountField()
    allocated = MoneyAmountField(help_text="Sum of its payment allocations.")
    balance_applied = MoneyAmountField(help_text="Customer balance applied to it.")
    difference = MoneyAmountField()


class UnallocatedPaymentOutputSerializer(serializers.Serializer):
    payment = serializers.IntegerField(source="payment_id")
    customer = serializers.CharField()
    currency = serializers.CharField()
    status = serializers.CharField()
    amount = MoneyAmountField()
    allocated = MoneyAmountField()
    to_balance = MoneyAmountField()
    remainder = MoneyAmountField()


class GatewayErrorOutputSerializer(serializers.Serializer):
    gateway = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class ReconciliationOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    since = serializers.DateTimeField(help_text="Gateway charges are listed from here.")
    clean = serializers.BooleanField(help_text="Nothing found.")
    gateways_checked = serializers.ListField(child=serializers.CharField())
    unmatched_transfers = UnmatchedTransferOutputSerializer(many=True)
    paid_at_gateway_open_here = GatewayChargeFindingOutputSerializer(many=True)
    gateway_amount_mismatches = GatewayChargeFindingOutputSerializer(many=True)
    invoice_amount_mismatches = InvoiceMismatchOutputSerializer(many=True)
    unallocated_payments = UnallocatedPaymentOutputSerializer(many=True)
    gateway_errors = GatewayErrorOutputSerializer(many=True)


class ReconciliationQuerySerializer(StrictSerializer):
    since = AwareDateTimeField(required=False)


# Views
def _rows(pairs: list[tuple[int, str]]) -> list[dict]:
    return [{"row": row, "message": message} for row, message in pairs]


class BankTransferFilter(django_filters.FilterSet):
    customer = customer_filter()

    class Meta:
        model = BankTransfer
        fields = ["status", "currency", "customer"]


@extend_schema_view(
    list=extend_schema(tags=["bank transfers"], responses=BankTransferOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["bank transfers"], responses=BankTransferOutputSerializer),
    create=extend_schema(
        tags=["bank transfers"],
        request=BankTransferCreateInputSerializer,
        responses={201: BankTransferOutputSerializer, 200: BankTransferOutputSerializer},
    ),
    assign=extend_schema(
        tags=["bank transfers"],
        request=BankTransferAssignInputSerializer,
        responses=BankTransferOutputSerializer,
    ),
    ignore=extend_schema(
        tags=["bank transfers"],
        request=BankTransferIgnoreInputSerializer,
        responses=BankTransferOutputSerializer,
    ),
    import_statement=extend_schema(
        tags=["bank transfers"],
        request={"multipart/form-data": BankStatementInputSerializer},
        responses=BankStatementOutputSerializer,
    ),
)
class BankTransferViewSet(ListRetrieveMixin, ApiViewSet):
    """Money received on the bank account, by id or bank reference. A new transfer is matched
    at once when its remittance quotes invoice payment references (RF…) or a customer's
    external_id; the payment it becomes pays those invoices, the rest goes to the balance."""

    queryset = BankTransfer.objects.select_related("customer", "payment").prefetch_related(
        "payment__allocations__invoice"
    )
    output_serializer_class = BankTransferOutputSerializer
    code_field = "bank_reference"
    filterset_class = BankTransferFilter

    def create(self, request):
        data = self.validated(BankTransferCreateInputSerializer, request.data)
        transfer, created = bank_transfer_record(**data, at=timezone.now(), actor=request.auth)
        return self.respond(self.get_queryset().get(pk=transfer.pk), status=201 if created else 200)

    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        transfer = self.get_object()
        data = self.validated(BankTransferAssignInputSerializer, request.data)
        customer = lookup_required(
            Customer.objects.all(), data["customer"], "external_id", "customer"
        )
        invoices = data.get("invoices")
        if invoices is not None:
            invoices = [
                lookup_required(Invoice.objects.all(), value, "number", f"invoices.{index}")
                for index, value in enumerate(invoices)
            ]
        bank_transfer_assign(
            transfer=transfer,
            customer=customer,
            invoices=invoices,
            at=timezone.now(),
            actor=request.auth,
        )
        return self.respond(self.get_queryset().get(pk=transfer.pk))

    @action(detail=True, methods=["post"])
    def ignore(self, request, pk=None):
        transfer = self.get_object()
        data = self.validated(BankTransferIgnoreInputSerializer, request.data)
        bank_transfer_ignore(
            transfer=transfer, reason=data["reason"], at=timezone.now(), actor=request.auth
        )
        return self.respond(self.get_queryset().get(pk=transfer.pk))

    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser],
    )
    def import_statement(self, request):
        upload = self.validated(BankStatementInputSerializer, request.data)["file"]
        if upload.size > MAX_STATEMENT_BYTES:
            raise DomainError(
                f"A statement file may have at most {MAX_STATEMENT_BYTES // 1024 // 1024} MB.",
                code="file_too_large",
                field="file",
            )
        result = bank_statement_import(
            file=upload, filename=upload.name, at=timezone.now(), actor=request.auth
        )
        return Response(
            {
                "created": result.created,
                "duplicates": result.duplicates,
                "matched": result.matched,
                "skipped": _rows(result.skipped),
                "errors": _rows(result.errors),
            }
        )


class ReconciliationApi(APIView):
    """Where our records and the money disagree: unmatched bank transfers, charges paid at a
    gateway but open here, amount mismatches, payments with an unapplied remainder."""

    @extend_schema(
        tags=["bank transfers"],
        parameters=[
            OpenApiParameter(
                "since",
                OpenApiTypes.DATETIME,
                description="List gateway charges from this instant (default: 30 days ago); "
                "ISO 8601 with an offset (400 `timezone_required` without).",
            )
        ],
        responses=ReconciliationOutputSerializer,
    )
    def get(self, request):
        now = timezone.now()
        query = ReconciliationQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        since = query.validated_data.get("since") or now - DEFAULT_SINCE
        report = reconciliation_report(at=now, since=since)
        body = ReconciliationOutputSerializer(report).data
        return Response(body)
