from decimal import Decimal

from catalog import services


def metric(code="api_calls", aggregation="count", field=""):
    return services.metric_create(
        code=code, name=code.replace("_", " "), aggregation=aggregation, field=field
    )


def feature(code="sso", kind="boolean", metric=None):
    return services.feature_create(code=code, name=code, kind=kind, metric=metric)


def plan(code="basic", currency="USD", amount="10.00", **kwargs):
    return services.plan_create(
        code=code, name=code.title(), currency=currency, amount=Decimal(amount), **kwargs
    )
