"""Credit notes, customer balances, coupons and discounts (`/credit-notes/`, `/balances/`,
`/coupons/`, `/discounts/`). Each view makes one service call."""

import django_filters
from django.db.models import Count
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import DomainError
from api.fields import AwareDateTimeField
from api.filters import IdOrCodeFilter, customer_filter
from api.serializers import StrictSerializer
from api.views import ApiViewSet, ListRetrieveMixin, lookup_by_id_or_code, lookup_required
from billing.invoicing.models.credits import (
    BalanceTransaction,
    Coupon,
    CouponDuration,
    CouponKind,
    CreditNote,
    CreditNoteLine,
    CreditNoteReason,
    Discount,
)
from billing.invoicing.models.invoices import Invoice
from billing.invoicing.services import credits, discounts
from billing.subscriptions.models.subscriptions import Subscription
from billing.tax.api.serializers import TaxAmountOutputSerializer, taxes_out
from catalog.api.fields import MoneyAmountField, amount_field
from catalog.money import format_amount
from customers.models import Customer

RECENT_TRANSACTIONS = 20


# Serializers
class CreditNoteLineInputSerializer(StrictSerializer):
    line = serializers.IntegerField(min_value=1, help_text="Id of a line of the invoice.")
    amount = amount_field(help_text="Amount to credit on that line, tax included.")


class CreditNoteCreateInputSerializer(StrictSerializer):
    invoice = serializers.CharField(max_length=40, help_text="Invoice id or number.")
    reason = serializers.ChoiceField(choices=CreditNoteReason.choices)
    lines = CreditNoteLineInputSerializer(
        many=True, required=False, help_text="Lines to credit; leave out to credit everything left."
    )
    refund = amount_field(
        required=False, help_text="Part to pay back (out of what was paid); the rest is balance."
    )
    memo = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class CreditNoteLineOutputSerializer(serializers.ModelSerializer):
    amount = MoneyAmountField(currency="credit_note.currency", help_text="Tax included.")
    tax_amount = MoneyAmountField(
        currency="credit_note.currency", help_text="The tax included in `amount`."
    )

    class Meta:
        model = CreditNoteLine
        fields = ["id", "invoice_line", "description", "amount", "tax_amount"]


class CreditNoteOutputSerializer(serializers.ModelSerializer):
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)
    invoice = serializers.SlugRelatedField(slug_field="number", read_only=True)
    invoice_id = serializers.IntegerField(read_only=True)
    lines = serializers.SerializerMethodField()
    subtotal = MoneyAmountField(help_text="The total net of tax.")
    tax = MoneyAmountField(help_text="The tax credited: in proportion to what is credited.")
    taxes = serializers.SerializerMethodField(
        help_text="The tax credited, one row per tax name, jurisdiction, rate and reason of "
        "the invoice's.",
    )
    total = MoneyAmountField(help_text="Tax included: `subtotal` + `tax`.")
    amount_due_reduction = MoneyAmountField()
    refund_amount = MoneyAmountField()
    credit_amount = MoneyAmountField()

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "number",
            "customer",
            "invoice",
            "invoice_id",
            "currency",
            "status",
            "reason",
            "memo",
            "lines",
            "subtotal",
            "tax",
            "taxes",
            "total",
            "amount_due_reduction",
            "refund_amount",
            "credit_amount",
            "created_at",
        ]

    def get_taxes(self, note) -> TaxAmountOutputSerializer(many=True):
        return taxes_out(note.taxes, note.currency)

    def get_lines(self, note) -> CreditNoteLineOutputSerializer(many=True):
        return CreditNoteLineOutputSerializer(
            note.lines.all(), many=True, context={"currency": note.currency}
        ).data


class BalanceTransactionOutputSerializer(serializers.ModelSerializer):
    amount = MoneyAmountField()
    invoice = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)
    credit_note = serializers.SlugRelatedField(slug_field="number", read_only=True, allow_null=True)

    class Meta:
        model = BalanceTransaction
        fields = [
            "id",
            "currency",
            "amount",
            "kind",
            "invoice",
            "credit_note",
            "description",
            "created_at",
        ]


class CurrencyBalanceOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    amount = MoneyAmountField(help_text="What the customer may still spend on invoices.")


class BalanceOutputSerializer(serializers.Serializer):
    customer = serializers.CharField(help_text="The customer's external_id.")
    balances = CurrencyBalanceOutputSerializer(many=True)
    transactions = BalanceTransactionOutputSerializer(
        many=True, help_text=f"The last {RECENT_TRANSACTIONS} entries, newest first."
    )


class CouponCreateInputSerializer(StrictSerializer):
    code = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=CouponKind.choices)
    percent_off = serializers.DecimalField(
        max_digits=7, decimal_places=4, required=False, allow_null=True
    )
    amount_off = amount_field(required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True, default="")
    duration = serializers.ChoiceField(choices=CouponDuration.choices)
    duration_in_periods = serializers.IntegerField(
        min_value=1, max_value=1000, required=False, allow_null=True
    )
    max_redemptions = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    redeem_by = AwareDateTimeField(required=False, allow_null=True)
    active = serializers.BooleanField(default=True)


class CouponOutputSerializer(serializers.ModelSerializer):
    times_redeemed = serializers.SerializerMethodField()
    amount_off = MoneyAmountField(allow_null=True, help_text="Fixed coupons: in `currency`.")
    percent_off = serializers.SerializerMethodField(
        help_text='Percent coupons: a decimal string without trailing zeros ("12.5").'
    )

    class Meta:
        model = Coupon
        fields = [
            "id",
            "code",
            "name",
            "kind",
            "percent_off",
            "amount_off",
            "currency",
            "duration",
            "duration_in_periods",
            "max_redemptions",
            "times_redeemed",
            "redeem_by",
            "active",
            "created_at",
        ]

    def get_times_redeemed(self, coupon) -> int:
        count = getattr(coupon, "times_redeemed", None)
        return coupon.discounts.count() if count is None else count

    def get_percent_off(self, coupon) -> str | None:
        if coupon.percent_off is None:
            return None
        return format(coupon.percent_off.normalize(), "f")


class DiscountCreateInputSerializer(StrictSerializer):
    coupon = serializers.CharField(max_length=100, help_text="Coupon code or id.")
    customer = serializers.CharField(max_length=100, help_text="Customer id or external_id.")
    subscription = serializers.CharField(
        max_length=100,
        required=False,
        allow_null=True,
        help_text="Subscription id or external_id; leave out for all the customer's invoices.",
    )


class DiscountOutputSerializer(serializers.ModelSerializer):
    coupon = serializers.SlugRelatedField(slug_field="code", read_only=True)
    customer = serializers.SlugRelatedField(slug_field="external_id", read_only=True)

    class Meta:
        model = Discount
        fields = [
            "id",
            "coupon",
            "customer",
            "subscription",
            "start_at",
            "periods_applied",
            "end_at",
            "created_at",
        ]


# Views
class CreditNoteFilter(django_filters.FilterSet):
    invoice = IdOrCodeFilter(id_field="invoice_id", code_field="invoice__number", what="Invoice")
    customer = customer_filter()

    class Meta:
        model = CreditNote
        fields = ["invoice", "customer", "reason", "currency"]


@extend_schema_view(
    list=extend_schema(tags=["credit notes"], responses=CreditNoteOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["credit notes"], responses=CreditNoteOutputSerializer),
    create=extend_schema(
        tags=["credit notes"],
        request=CreditNoteCreateInputSerializer,
        responses={201: CreditNoteOutputSerializer},
    ),
)
class CreditNoteViewSet(ListRetrieveMixin, ApiViewSet):
    """Credit notes by id or number. A note credits an open invoice's amount due first; what
    the customer paid is refunded (`refund`) or added to its balance."""

    queryset = CreditNote.objects.select_related("customer", "invoice").prefetch_related("lines")
    output_serializer_class = CreditNoteOutputSerializer
    code_field = "number"
    filterset_class = CreditNoteFilter

    def create(self, request):
        data = self.validated(CreditNoteCreateInputSerializer, request.data)
        invoice = lookup_required(Invoice.objects.all(), data["invoice"], "number", "invoice")
        lines = data.get("lines")
        if lines is not None:
            lines = [{"invoice_line": ln["line"], "amount": ln["amount"]} for ln in lines]
        note = credits.credit_note_issue(
            invoice=invoice,
            at=timezone.now(),
            reason=data["reason"],
            lines=lines,
            refund=data.get("refund") or credits.ZERO,
            memo=data["memo"],
            actor=request.auth,
        )
        return self.respond(self.get_queryset().get(pk=note.pk), status=201)


class CustomerBalanceApi(APIView):
    """A customer's balance per currency (credit it may still spend on invoices) and its
    latest entries."""

    @extend_schema(
        tags=["credit notes"],
        parameters=[
            OpenApiParameter(
                "customer", str, required=True, description="Customer id or external_id."
            )
        ],
        responses=BalanceOutputSerializer,
    )
    def get(self, request):
        value = request.query_params.get("customer")
        if not value:
            raise DomainError(
                "Give ?customer=<id or external_id>.", code="required", field="customer"
            )
        customer = lookup_by_id_or_code(Customer.objects.all(), value, "external_id")
        if customer is None:
            raise Http404
        balances = credits.customer_balances(customer)
        entries = credits.balance_transaction_list(customer=customer).select_related(
            "invoice", "credit_note"
        )[:RECENT_TRANSACTIONS]
        return Response(
            {
                "customer": customer.external_id,
                "balances": [
                    {"currency": currency, "amount": format_amount(amount, currency)}
                    for currency, amount in balances.items()
                ],
                "transactions": BalanceTransactionOutputSerializer(entries, many=True).data,
            }
        )


@extend_schema_view(
    list=extend_schema(tags=["coupons"], responses=CouponOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["coupons"], responses=CouponOutputSerializer),
    create=extend_schema(
        tags=["coupons"],
        request=CouponCreateInputSerializer,
        responses={201: CouponOutputSerializer},
    ),
)
class CouponViewSet(ListRetrieveMixin, ApiViewSet):
    """Coupons by id or code."""

    queryset = Coupon.objects.annotate(times_redeemed=Count("discounts"))
    output_serializer_class = CouponOutputSerializer
    code_field = "code"
    filterset_fields = ["active", "kind", "duration", "currency"]

    def create(self, request):
        data = self.validated(CouponCreateInputSerializer, request.data)
        coupon = discounts.coupon_create(at=timezone.now(), actor=request.auth, **data)
        return self.respond(self.get_queryset().get(pk=coupon.pk), status=201)


class DiscountFilter(django_filters.FilterSet):
    customer = customer_filter()
    coupon = IdOrCodeFilter(id_field="coupon_id", code_field="coupon__code", what="Coupon")
    subscription = IdOrCodeFilter(
        id_field="subscription_id", code_field="subscription__external_id", what="Subscription"
    )
    active = django_filters.BooleanFilter(
        field_name="end_at", lookup_expr="isnull", help_text="true: not ended."
    )

    class Meta:
        model = Discount
        fields = ["customer", "coupon", "subscription", "active"]


@extend_schema_view(
    list=extend_schema(tags=["coupons"], responses=DiscountOutputSerializer(many=True)),
    retrieve=extend_schema(tags=["coupons"], responses=DiscountOutputSerializer),
    create=extend_schema(
        tags=["coupons"],
        request=DiscountCreateInputSerializer,
        responses={201: DiscountOutputSerializer},
    ),
)
class DiscountViewSet(ListRetrieveMixin, ApiViewSet):
    """A coupon redeemed for a customer, or for one of its subscriptions."""

    queryset = Discount.objects.select_related("coupon", "customer")
    output_serializer_class = DiscountOutputSerializer
    filterset_class = DiscountFilter

    def create(self, request):
        data = self.validated(DiscountCreateInputSerializer, request.data)
        coupon = lookup_required(Coupon.objects.all(), data["coupon"], "code", "coupon")
        customer = lookup_required(
            Customer.objects.all(), data["customer"], "external_id", "customer"
        )
        subscription = None
        if data.get("subscription"):
            subscription = lookup_required(
                Subscription.objects.all(), data["subscription"], "external_id", "subscription"
            )
        discount = discounts.discount_apply(
            coupon=coupon,
            customer=customer,
            subscription=subscription,
            at=timezone.now(),
            actor=request.auth,
        )
        return self.respond(discount, status=201)
