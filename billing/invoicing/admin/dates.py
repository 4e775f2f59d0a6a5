"""The dates staff see of an invoice: the customer's local day, as on the customer's PDF, email
and portal, with the time zone it is in (customers.dates)."""

from django.contrib import admin

from billing.invoicing.models.invoices import Invoice
from customers.dates import customer_day, customer_day_with_zone


class CustomerDaysMixin:
    @admin.display(description="issued (customer's day)", ordering="issued_at")
    def issue_day(self, obj: Invoice) -> str:
        return customer_day_with_zone(obj.issued_at, obj.customer)

    @admin.display(description="due (customer's day)", ordering="due_at")
    def due_day(self, obj: Invoice) -> str:
        return customer_day_with_zone(obj.due_at, obj.customer)

    @admin.display(description="the customer's days")
    def customer_days(self, obj: Invoice) -> str:
        """What the customer's documents say, in its time zone."""
        days = [
            f"{label} {customer_day(at, obj.customer)}"
            for label, at in (("issued", obj.issued_at), ("due", obj.due_at), ("paid", obj.paid_at))
            if at
        ]
        return f"{', '.join(days) or 'not issued'} ({obj.customer.timezone})"
