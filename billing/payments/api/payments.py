"""Payments (`/payments/`) and payment methods (`/customers/{id}/payment-methods/`).
Each view makes one service call."""

import django_filters
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from api.filters import IdOrCodeFilter, customer_filter
from api.serializers import StrictSerializer
from api.views import ApiViewSet, ListRetrieveMixin, lookup_by_id_or_code, lookup_required
from billing.invoicing.models.invoices import Invoice
from billing.payments.models.payments import (
    Payment,
    PaymentAllocation,
    PaymentAttempt,
    PaymentMethod,
    PaymentMethodStatus,
    PaymentSource,
    Refund,
)
from billing.payments.services import allocations, payments, refunds
from billing.payments.services import methods as payment_methods
from catalog.api.fields import MoneyAmountField, amount_field
from customers.models import Customer


# Serializers
class PaymentCreateInputSerializer(StrictSerializer):
    invoice = serializers.CharField(max_length=40, help_text="Invoice id or number.")
    payment_method = serializers.IntegerField(
        min_value=1, required=False, help_text="Id of a method on file (default: the default)."
    )


class PaymentReceivedInputSerializer(StrictSerializer):
    customer = serializers.CharField(max_length=100, help_text="Customer id or external_id.")
    amount = amount_field()
    currency = serializers.CharField(max_length=3)
    invoices = serializers.ListField(
        child=serializers.CharField(max_length=40),
        required=False,
        max_length=100,
        help_text="Invoice ids or numbers to apply it to, in order (default: oldest open first).",
    )
    reference = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class RefundCreateInputSerializer(StrictSerializer):
    amount = amount_field(required=False, help_text="Default: all that is left to refund.")
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PaymentRejectInputSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class PaymentMethodCreateInputSerializer(StrictSerializer):
    gateway = serializers.CharField(max_length=50, help_text="Gateway code: sandbox, stripe, …")
    token = serializers.CharField(
        max_length=255, help_text="The gateway's token (tok_…, pm_…, seti_…), never a number."
    )
    default = serializers.BooleanField(default=False)


class PaymentAttemptOutputSerializer(serializers.ModelSerializer):
    gateway = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)

    class Meta:
        model = PaymentAttempt
        fields = [
            "number",
            "gateway",
            "status",
            "idempotency_key",
            "gateway_reference",
            "code",
            "message",
            "risk_level",
            "started_at",
            "finished_at",
        ]


class PaymentAllocationOutputSerializer(serializers.ModelSerializer):
    invoice = serializers.SlugRelatedField(slug_field="number", read_only=True)
    invoice_id = serializers.IntegerField(read_only=True)
    amount = MoneyAmountField(currency="payment.currency")

    class Meta:
        model = PaymentAllocation
        fields = ["invoice", "invoice_id", "amount", "created_at"]


class RefundOutputSerializer(serializers.ModelSerializer):
    amount = MoneyAmountField()

    class Meta:
        model = Refund
        fields = [
            "id",
            "payment",
            "amount",
            "currency",
            "status",
            "reason",
            "gateway_reference",
            "failure_message",
            "created_at",
            "finished_at",
        ]


class PaymentMethodOutputSerializer(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)

    class Meta:
        model = PaymentMethod
        fields = [
            "id",
            "customer",
            "vault",
            "kind",
            "label",
            "brand",
            "last4",
            "exp_month",
            "exp_year",
            "bank_name",
            "country",
            "is_default",
            "status",
            "created_at",
        ]


class PaymentOutputSerializer(serializers.ModelSerializer):
    amount = MoneyAmountField()
    amount_refunded = MoneyAmountField()
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    invoice = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    invoice_id = serializers.IntegerField(read_only=True, allow_null=True)
    gateway = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    payment_method = PaymentMethodOutputSerializer(source="method", read_only=True, allow_null=True)
    attempts = PaymentAttemptOutputSerializer(many=True, read_only=True)
    allocations = PaymentAllocationOutputSerializer(many=True, read_only=True)
    refunds = RefundOutputSerializer(many=True, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "customer",
            "invoice",
            "invoice_id",
            "currency",
            "amount",
            "amount_refunded",
            "status",
            "source",
            "kind",
            "payment_method",
            "gateway",
            "gateway_reference",
            "failure_code",
            "failure_message",
            "review_reason",
            "next_action",
            "created_at",
            "succeeded_at",
            "failed_at",
            "attempts",
            "allocations",
            "refunds",
        ]


# Views
class PaymentFilter(django_filters.FilterSet):
    invoice = IdOrCodeFilter(
        id_field=("invoice_id", "allocations__invoice_id"),
        code_field=("invoice__number", "allocations__invoice__number"),
        what="Invoice",
        distinct=True,
        help_text="Invoice id or number: the payments charged for it or applied to it.",
    )
    customer = customer_filter()

    class Meta:
        model = Payment
        fields = ["invoice", "customer", "status", "source"]


def _invoice(value) -> Invoice:
    return lookup_required(Invoice.objects.all(), value, "number", "invoice")


TAGS = ["payments"]


@extend_schema_view(
    create=extend_schema(
        tags=TAGS, request=PaymentCreateInputSerializer, responses={201: PaymentOutputSerializer}
    ),
    list=extend_schema(tags=TAGS, responses=PaymentOutputSerializer(many=True)),
    retrieve=extend_schema(tags=TAGS, responses=PaymentOutputSerializer),
    received=extend_schema(
        tags=TAGS, request=PaymentReceivedInputSerializer, responses={201: PaymentOutputSerializer}
    ),
    refund=extend_schema(
        tags=TAGS, request=RefundCreateInputSerializer, responses={201: RefundOutputSerializer}
    ),
    refresh=extend_schema(tags=TAGS, request=None, responses=PaymentOutputSerializer),
    approve=extend_schema(tags=TAGS, request=None, responses=PaymentOutputSerializer),
    reject=extend_schema(
        tags=TAGS, request=PaymentRejectInputSerializer, responses=PaymentOutputSerializer
    ),
)
class PaymentViewSet(ListRetrieveMixin, ApiViewSet):
    """`POST /payments/` charges an open invoice through the gateway that orchestration
    picks; the response is the payment in the state the gateways left it (`succeeded`,
    `failed` with `failure_code`, `requires_action` with `next_action`, `review`, `unknown`
    or `pending` while a bank debit settles)."""

    queryset = Payment.objects.select_related(
        "customer", "invoice", "gateway", "method", "method__customer"
    ).prefetch_related(
        "attempts__gateway", "allocations__invoice", "allocations__payment", "refunds"
    )
    output_serializer_class = PaymentOutputSerializer
    filterset_class = PaymentFilter

    def _refetch(self, payment, status: int = 200):
        return self.respond(self.get_queryset().get(pk=payment.pk), status=status)

    def create(self, request):
        data = self.validated(PaymentCreateInputSerializer, request.data)
        invoice = _invoice(data["invoice"])
        method = None
        if "payment_method" in data:
            method = lookup_required(
                PaymentMethod.objects.filter(customer_id=invoice.customer_id),
                data["payment_method"],
                None,
                "payment_method",
            )
        payment = payments.payment_collect(
            invoice=invoice,
            at=timezone.now(),
            source=PaymentSource.API,
            method=method,
            actor=request.auth,
        )
        return self._refetch(payment, status=201)

    @action(detail=False, methods=["post"])
    def received(self, request):
        data = self.validated(PaymentReceivedInputSerializer, request.data)
        customer = lookup_required(
            Customer.objects.all(), data["customer"], "external_id", "customer"
        )
        invoices = [_invoice(value) for value in data["invoices"]] if "invoices" in data else None
        payment = allocations.payment_record_received(
            customer=customer,
            amount=data["amount"],
            currency=data["currency"].upper(),
            at=timezone.now(),
            source=PaymentSource.MANUAL,
            invoices=invoices,
            reference=data["reference"],
            actor=request.auth,
        )
        return self._refetch(payment, status=201)

    @action(detail=True, methods=["post"])
    def refund(self, request, pk=None):
        payment = self.get_object()
        data = self.validated(
            RefundCreateInputSerializer, request.data, context={"currency": payment.currency}
        )
        refund = refunds.payment_refund(
            payment=payment,
            amount=data.get("amount"),
            reason=data["reason"],
            at=timezone.now(),
            actor=request.auth,
        )
        return Response(RefundOutputSerializer(refund).data, status=201)

    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        payment = payments.payment_refresh(
            payment=self.get_object(), at=timezone.now(), actor=request.auth
        )
        return self._refetch(payment)

    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        payment = payments.payment_review_approve(
            payment=self.get_object(), at=timezone.now(), actor=request.auth
        )
        return self._refetch(payment)

    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = self.validated(PaymentRejectInputSerializer, request.data)
        payment = payments.payment_review_reject(
            payment=self.get_object(), at=timezone.now(), reason=data["reason"], actor=request.auth
        )
        return self._refetch(payment)


def _customer(value: str) -> Customer:
    customer = lookup_by_id_or_code(Customer.objects.all(), value, "external_id")
    if customer is None:
        raise Http404
    return customer


@extend_schema_view(
    list=extend_schema(tags=TAGS, responses=PaymentMethodOutputSerializer(many=True)),
    create=extend_schema(
        tags=TAGS,
        request=PaymentMethodCreateInputSerializer,
        responses={201: PaymentMethodOutputSerializer},
    ),
    retrieve=extend_schema(tags=TAGS, responses=PaymentMethodOutputSerializer),
    make_default=extend_schema(tags=TAGS, request=None, responses=PaymentMethodOutputSerializer),
    detach=extend_schema(tags=TAGS, request=None, responses=PaymentMethodOutputSerializer),
)
class CustomerPaymentMethodViewSet(ListRetrieveMixin, ApiViewSet):
    """A customer's cards and bank accounts on file: gateway tokens and display data only."""

    output_serializer_class = PaymentMethodOutputSerializer
    queryset = PaymentMethod.objects.none()  # for the schema; the real one is per customer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return self.queryset
        return PaymentMethod.objects.filter(
            customer=_customer(self.kwargs["customer"]), status=PaymentMethodStatus.ACTIVE
        ).select_related("customer")

    def create(self, request, customer=None):
        data = self.validated(PaymentMethodCreateInputSerializer, request.data)
        method = payment_methods.payment_method_attach(
            customer=_customer(customer),
            gateway=data["gateway"],
            token=data["token"],
            make_default=data["default"],
            at=timezone.now(),
            actor=request.auth,
        )
        return self.respond(method, status=201)

    @action(detail=True, methods=["post"], url_path="default")
    def make_default(self, request, customer=None, pk=None):
        method = payment_methods.payment_method_set_default(
            method=self.get_object(), at=timezone.now(), actor=request.auth
        )
        return self.respond(method)

    @action(detail=True, methods=["post"])
    def detach(self, request, customer=None, pk=None):
        method = payment_methods.payment_method_detach(
            method=self.get_object(), at=timezone.now(), actor=request.auth
        )
        return self.respond(method)
