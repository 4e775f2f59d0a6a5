"""`GET /revenue/recognition/`: billed, recognised and deferred revenue per month.

Defaults, as for `/revenue/mrr/movements/`: `to` is the current month (of the books' time
zone, settings.TIME_ZONE), `from` the 11th month before `to` (twelve months in all);
`currency` is the customer's currency when `customer` is given, else the installation's
default currency (settings.DEFAULT_CURRENCY): amounts are never added across currencies, so
one is always reported, and named in the answer. A range is at most 120 months. A
`customer` that names nobody is a 400 `does_not_exist` on `customer`."""

import re

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.views import lookup_required
from catalog.api.fields import MoneyAmountField
from catalog.validators import validate_currency
from customers.models import Customer
from reports.revenue.schedules import Month
from reports.revenue.selectors import MAX_MONTHS, recognition_report

MONTH_PATTERN = r"^(19|[2-9][0-9])[0-9]{2}-(0[1-9]|1[0-2])$"  # in: 1900-01 .. 9999-12
MONTH_OUT_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"  # out: `from` may default to 1899
DEFAULT_MONTHS = 12


def _shifted(month: Month, months: int) -> Month:
    index = month.year * 12 + month.month - 1 + months
    return Month(index // 12, index % 12 + 1)


def _span(first: Month, last: Month) -> int:
    """Months from `first` to `last`, both included."""
    return (last.year - first.year) * 12 + last.month - first.month + 1


class MonthQueryField(serializers.CharField):
    """A month as YYYY-MM (1900-01 to 9999-12)."""

    default_error_messages = {"invalid_month": "Use a month as YYYY-MM, e.g. 2026-01."}

    def to_internal_value(self, data) -> Month:
        value = super().to_internal_value(data)
        if not re.fullmatch(MONTH_PATTERN, value):
            self.fail("invalid_month")
        return Month.parse(value)


class RevenueRecognitionQuerySerializer(serializers.Serializer):
    """`?from=YYYY-MM&to=YYYY-MM&currency=&customer=`; the view's context gives `today`."""

    to = MonthQueryField(required=False)
    currency = serializers.CharField(required=False, max_length=3, validators=[validate_currency])
    customer = serializers.CharField(required=False, max_length=200)

    def get_fields(self):
        # `from` is a Python keyword: declared here rather than as a class attribute.
        fields = super().get_fields()
        return {"from": MonthQueryField(required=False), **fields}

    def validate(self, data):
        customer = None
        if data.get("customer"):
            customer = lookup_required(
                Customer.objects.all(), data["customer"], "external_id", "customer"
            )
        last = data.get("to") or Month.of(self.context["today"])
        first = data.get("from") or _shifted(last, 1 - DEFAULT_MONTHS)
        if last < first:
            raise serializers.ValidationError(
                {"to": serializers.ErrorDetail("`to` is before `from`.", code="invalid_range")}
            )
        if _span(first, last) > MAX_MONTHS:
            message = f"At most {MAX_MONTHS} months from `from` to `to`."
            raise serializers.ValidationError(
                {"to": serializers.ErrorDetail(message, code="range_too_long")}
            )
        currency = data.get("currency") or (
            customer.currency if customer else settings.DEFAULT_CURRENCY
        )
        return {"from": first, "to": last, "currency": currency, "customer": customer}


class RevenueRecognitionMonthOutputSerializer(serializers.Serializer):
    """One month: what was billed in it, what it recognised, what is deferred at its end."""

    month = serializers.RegexField(MONTH_OUT_PATTERN, help_text="YYYY-MM.")
    billed = MoneyAmountField(
        help_text="Invoice lines booked (finalized) in the month, net of tax, before credits."
    )
    recognized = MoneyAmountField(
        help_text="Revenue of the month: deferred revenue recognised, less credits beyond "
        "what was deferred, plus the change in usage consumed but not invoiced yet."
    )
    deferred_end = MoneyAmountField(
        help_text="Billed and not recognised yet at the month's end (credits deducted)."
    )


class RevenueRecognitionOutputSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO 4217; every amount is in it.")
    months = RevenueRecognitionMonthOutputSerializer(many=True, help_text="`from` to `to`.")
    total_recognized = MoneyAmountField(help_text="The months' `recognized`, added.")


def _month_parameter(name: str, default: str) -> OpenApiParameter:
    return OpenApiParameter(name, str, pattern=MONTH_PATTERN, description=default)


class RevenueRecognitionApi(APIView):
    """Revenue recognised under ASC 606 / IFRS 15, net of tax."""

    @extend_schema(
        tags=["revenue"],
        summary="Get the revenue recognition report",
        parameters=[
            _month_parameter(
                "from",
                "First month (YYYY-MM); default: 11 months before `to` (twelve in all).",
            ),
            _month_parameter(
                "to",
                f"Last month (YYYY-MM, not before `from`, at most {MAX_MONTHS} months from "
                "it); default: the current month.",
            ),
            OpenApiParameter(
                "currency",
                str,
                description="ISO 4217 code; default: the customer's currency when `customer` "
                "is given, else the installation's default currency. Amounts of other "
                "currencies are not included.",
            ),
            OpenApiParameter(
                "customer", str, description="Only this customer: its id or external_id."
            ),
        ],
        responses=RevenueRecognitionOutputSerializer,
    )
    def get(self, request):
        """Per month from `from` to `to`: `billed` (invoice lines finalized in the month, net
        of tax), `recognized` (each line is recognised daily over its service period, actual
        days, with cumulative rounding; a line billed after its period began catches up in
        the month it is billed; usage is revenue of the month it is consumed; a credit note
        reverses what is still deferred first, the rest reduces the revenue of its month)
        and `deferred_end` (billed and not recognised yet at the month's end, counting
        everything billed before `from`). A month not over yet shows what its invoices
        recognise in it. Amounts are net of tax, in one currency. Invoices appear once the
        reports have read them from the billing event log (seconds after finalizing).

        400 `invalid_request` naming the parameter for a month that is not YYYY-MM, `to`
        before `from`, more than 120 months, an unknown currency, or an unknown customer."""
        params = {key: value for key, value in request.query_params.items() if value != ""}
        query = RevenueRecognitionQuerySerializer(
            data=params, context={"today": timezone.localdate()}
        )
        query.is_valid(raise_exception=True)
        data = query.validated_data
        customer = data["customer"]
        report = recognition_report(
            currency=data["currency"],
            first=data["from"],
            last=data["to"],
            customer_id=customer.pk if customer else None,
        )
        return Response(
            RevenueRecognitionOutputSerializer(
                report, context={"currency": report["currency"]}
            ).data
        )
