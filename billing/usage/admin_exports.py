"""What the usage aggregate list exports (CSV, XLSX): one row per subscription, metric and
billing period. The conventions and the Export button are customers/admin_exports.py's."""

from billing.usage.models import UsageAggregate
from customers.admin_exports import ExportResource, money, quantity, text, value, when


def subscription_currency(aggregate: UsageAggregate) -> str:
    return aggregate.subscription.currency


class UsageAggregateResource(ExportResource):
    id = value("id")
    customer_external_id = text("customer__external_id")
    customer_name = text("customer__name")
    subscription_id = value("subscription_id")
    subscription_external_id = text("subscription__external_id")
    metric_code = text("metric__code")
    period_start = when("period_start")
    period_end = when("period_end")
    event_count = value("event_count")
    value_sum = quantity("value_sum")
    value_max = quantity("value_max")
    latest_value = quantity("latest_value")
    unique_count = value("unique_count")
    unbilled = value("unbilled")
    billed_value = quantity("billed_value")
    currency = text("subscription__currency")
    billed_amount = money("billed_amount", currency_of=subscription_currency)

    select_related = ("customer", "subscription", "metric")

    class Meta:
        model = UsageAggregate
        name = "Usage aggregates"
        fields = (
            "id",
            "customer_external_id",
            "customer_name",
            "subscription_id",
            "subscription_external_id",
            "metric_code",
            "period_start",
            "period_end",
            "event_count",
            "value_sum",
            "value_max",
            "latest_value",
            "unique_count",
            "unbilled",
            "billed_value",
            "currency",
            "billed_amount",
        )
