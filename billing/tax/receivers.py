"""Tax's answers to the apps below it: a customer's new VAT number is checked. Connected by
`BillingConfig.ready` (billing/apps.py)."""

from billing.tax import services
from customers import hooks as customer_hooks


def _tax_id_changed(sender, *, customer, at, **kwargs) -> None:
    services.customer_tax_id_check_start(customer=customer, at=at)


def connect() -> None:
    customer_hooks.tax_id_changed.connect(_tax_id_changed, dispatch_uid="tax_id_check")
