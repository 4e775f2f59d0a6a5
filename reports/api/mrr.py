"""`GET /revenue/mrr/` and `GET /revenue/mrr/movements/`: MRR, ARR and the MRR movements,
from the MRR history the reports keep (reports.metrics.history, fed by the reports' worker).

Parameters shared by both: `currency` (ISO 4217; default the customer's currency when a
customer is given, else the instance's default currency, `DEFAULT_CURRENCY`: MRR is never
added across currencies, so one is always reported and named in the answer) and
`customer` (id or external_id; one that names nobody is a 400 `does_not_exist` on
`customer`, as for other references given in a request)."""

from datetime import UTC

from django.conf import settings
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.views import lookup_required
from catalog.api.fields import MoneyAmountField
from catalog.validators import validate_currency
from customers.models import Customer
from reports.metrics.selectors import MAX_MONTHS, mrr_at, mrr_movements_report

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
FIRST_MONTH, LAST_MONTH = "0001-01", "9999-11"  # each month's end must be a datetime
RATE_HELP = (
    "A fraction as a decimal string with 4 places (0.0523 is 5.23 %); null when the "
    "range starts with no MRR (or no paying customer)."
)


# -- Inputs --------------------------------------------------------------------------------


class _RevenueQuerySerializer(serializers.Serializer):
    currency = serializers.CharField(
        required=False, allow_blank=True, max_length=3, validators=[validate_currency]
    )
    customer = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate(self, data):
        value = data.get("customer")
        customer = (
            lookup_required(Customer.objects.all(), value, "external_id", "customer")
            if value
            else None
        )
        data["customer"] = customer
        if not data.get("currency"):
            data["currency"] = customer.currency if customer else settings.DEFAULT_CURRENCY
        return data


class MrrQuerySerializer(_RevenueQuerySerializer):
    """`?at=&currency=&customer=`."""

    at = serializers.DateTimeField(required=False)


class MonthField(serializers.RegexField):
    def __init__(self, **kwargs):
        super().__init__(
            MONTH_PATTERN,
            error_messages={"invalid": "A month is written YYYY-MM (2026-01)."},
            **kwargs,
        )


class MrrMovementsQuerySerializer(_RevenueQuerySerializer):
    """`?from=YYYY-MM&to=YYYY-MM&currency=&customer=`."""

    to = MonthField(required=False)

    def get_fields(self):
        # `from` is a Python keyword: declared here rather than as a class attribute.
        fields = super().get_fields()
        return {"from": MonthField(required=False), **fields}

    def validate(self, data):
        data = super().validate(data)
        last = data.get("to") or timezone.now().astimezone(UTC).strftime("%Y-%m")
        first = data.get("from")
        if first is None:  # the twelve months ending with `to` (from year 1 at the earliest)
            index = max(_month_index(last) - 11, _month_index(FIRST_MONTH))
            first = f"{index // 12:04d}-{index % 12 + 1:02d}"
        for name, value in (("from", first), ("to", last)):
            if not FIRST_MONTH <= value <= LAST_MONTH:
                raise serializers.ValidationError(
                    {
                        name: serializers.ErrorDetail(
                            f"A month from {FIRST_MONTH} to {LAST_MONTH}.", code="out_of_range"
                        )
                    }
                )
        if last < first:
            raise serializers.ValidationError(
                {"to": serializers.ErrorDetail("`to` is before `from`.", code="invalid_range")}
            )
        if _month_index(last) - _month_index(first) >= MAX_MONTHS:
            raise serializers.ValidationError(
                {
                    "to": serializers.ErrorDetail(
                        f"At most {MAX_MONTHS} months at once.", code="range_too_long"
                    )
                }
            )
        data["from"], data["to"] = first, last
        return data


def _month_index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _query(serializer_class, request) -> dict:
    params = {key: value for key, value in request.query_params.items() if value != ""}
    query = serializer_class(data=params)
    query.is_valid(raise_exception=True)
    return query.validated_data


# -- Outputs -------------------------------------------------------------------------------


class MrrOutputSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="The instant measured.")
    currency = serializers.CharField(help_text="ISO 4217 code of every amount.")
    mrr = MoneyAmountField(
        help_text="Monthly recurring revenue: recurring base fees and recurring add-ons of "
        "active and past_due subscriptions, normalised to a month, after recurring "
        "discounts; no tax, usage, one-time fees or trials. Rounded once, on the total."
    )
    arr = MoneyAmountField(help_text="12 × MRR (of the unrounded MRR, rounded once).")
    subscriptions = serializers.IntegerField(help_text="Subscriptions counting in the MRR.")


def _amount(help_text: str) -> MoneyAmountField:
    return MoneyAmountField(help_text=help_text)


class MrrMovementsMonthOutputSerializer(serializers.Serializer):
    month = serializers.RegexField(MONTH_PATTERN, help_text="YYYY-MM (UTC).")
    start = _amount("MRR at the start of the month (the previous month's end).")
    new = _amount("MRR of customers paying for the first time.")
    expansion = _amount("Increases of customers who were paying.")
    contraction = _amount(
        "Decreases of customers who go on paying (one of several subscriptions ended, a "
        "discount added, a downgrade)."
    )
    churn = _amount(
        "MRR of customers whose last paid subscription ended (at the end of its paid "
        "period): voluntary_churn + involuntary_churn."
    )
    reactivation = _amount("MRR of former customers paying again.")
    end = _amount(
        "MRR at the end of the month: start + new + expansion + reactivation − contraction − churn."
    )
    voluntary_churn = _amount("Churn of cancellations (and pauses).")
    involuntary_churn = _amount(
        "Churn of failed payments: subscriptions cancelled or suspended by dunning."
    )


class MrrRatesOutputSerializer(serializers.Serializer):
    customer_churn = serializers.DecimalField(
        max_digits=None,
        decimal_places=4,
        allow_null=True,
        help_text="Customers churned in the range ÷ paying customers at its start. " + RATE_HELP,
    )
    gross_mrr_churn = serializers.DecimalField(
        max_digits=None,
        decimal_places=4,
        allow_null=True,
        help_text="(churn + contraction) ÷ start MRR. " + RATE_HELP,
    )
    net_mrr_churn = serializers.DecimalField(
        max_digits=None,
        decimal_places=4,
        allow_null=True,
        help_text="(churn + contraction − expansion − reactivation) ÷ start MRR (negative "
        "when expansion wins). " + RATE_HELP,
    )
    nrr = serializers.DecimalField(
        max_digits=None,
        decimal_places=4,
        allow_null=True,
        help_text="Net revenue retention of the customers paying at the start: their MRR at "
        "the end ÷ at the start. " + RATE_HELP,
    )
    grr = serializers.DecimalField(
        max_digits=None,
        decimal_places=4,
        allow_null=True,
        help_text="Gross revenue retention of those customers: (start − churn − "
        "contraction) ÷ start, expansion left out. " + RATE_HELP,
    )


class MrrMovementsOutputSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO 4217 code of every amount.")
    months = MrrMovementsMonthOutputSerializer(many=True, help_text="Oldest first.")
    rates = MrrRatesOutputSerializer(help_text="Over the whole range.")


# -- Views ---------------------------------------------------------------------------------

CURRENCY = OpenApiParameter(
    "currency",
    str,
    description="ISO 4217 code. Default: the customer's currency when `customer` is given, "
    "else the instance's default currency.",
)
CUSTOMER = OpenApiParameter(
    "customer", str, description="Only this customer: its id or external_id."
)


class MrrApi(APIView):
    """Monthly and annual recurring revenue."""

    @extend_schema(
        tags=["revenue"],
        summary="Get MRR and ARR",
        parameters=[
            OpenApiParameter(
                "at",
                OpenApiTypes.DATETIME,
                description="The instant measured (ISO 8601); default: now.",
            ),
            CURRENCY,
            CUSTOMER,
        ],
        responses=MrrOutputSerializer,
    )
    def get(self, request):
        """MRR and ARR in one currency at an instant, of every customer or of one, from the
        MRR history (kept from billing's records by the reports' worker within seconds). 400
        `invalid_request` naming the parameter for an `at` that is not an ISO 8601
        date-time, an unknown currency or a customer that does not exist."""
        query = _query(MrrQuerySerializer, request)
        at = query.get("at") or timezone.now()
        figures = mrr_at(at=at, currency=query["currency"], customer=query["customer"])
        body = {"at": at, "currency": query["currency"], **figures}
        return Response(MrrOutputSerializer(body).data)


class MrrMovementsApi(APIView):
    """MRR movements per month and churn and retention rates."""

    @extend_schema(
        tags=["revenue"],
        summary="Get MRR movements",
        parameters=[
            OpenApiParameter(
                "from",
                str,
                pattern=MONTH_PATTERN,
                description="First month (YYYY-MM, UTC); default: 11 months before `to`.",
            ),
            OpenApiParameter(
                "to",
                str,
                pattern=MONTH_PATTERN,
                description=f"Last month (YYYY-MM, not before `from`; at most {MAX_MONTHS} "
                "months in all); default: this month.",
            ),
            CURRENCY,
            CUSTOMER,
        ],
        responses=MrrMovementsOutputSerializer,
    )
    def get(self, request):
        """Each month's MRR movements (ChartMogul's way, per customer and currency: new,
        expansion, contraction, churn, reactivation; `end = start + new + expansion +
        reactivation − contraction − churn`) and the rates over the range. Churn is
        dated at the end of the paid period and split into voluntary and involuntary
        (dunning). A month's start and end are the MRR of its first and last instant, UTC.
        400 `invalid_request` naming the parameter for a month that is not YYYY-MM, `to`
        before `from`, too long a range, an unknown currency or a customer that does not
        exist."""
        query = _query(MrrMovementsQuerySerializer, request)
        report = mrr_movements_report(
            first=query["from"],
            last=query["to"],
            currency=query["currency"],
            customer=query["customer"],
        )
        context = {"currency": report["currency"]}
        return Response(MrrMovementsOutputSerializer(report, context=context).data)
