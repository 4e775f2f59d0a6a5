"""The "Add one-off invoice" page of the invoice console (mixed into `InvoiceAdmin` through
`InvoicePagesMixin`): a customer, a currency, ad-hoc lines, issued now or on a chosen day
(`one_off_invoice_create`); the service's refusals come back on the fields and change
nothing. Needs the invoice's add permission (finance)."""

from django.contrib import messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from api.errors import DomainError, error_text
from billing.invoicing.admin.invoice_forms import OneOffInvoiceForm, OneOffLineFormSet
from billing.invoicing.models.invoices import Invoice, InvoiceStatus
from billing.invoicing.services.one_off import OneOffLine, one_off_invoice_create
from billing.subscriptions.periods import local_midnight
from catalog.money import format_amount
from customers.dates import customer_zone, local_date

REFUSED = (DomainError, TransitionNotAllowed, ValidationError)
ONE_OFF_TEMPLATE = "admin/billing/invoice/one_off.html"


def money(amount, currency: str) -> str:
    return f"{format_amount(amount, currency)} {currency}"


class OneOffPagesMixin:
    def has_one_off_permission(self, request) -> bool:
        codename = get_permission_codename("add", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    # One-off invoices
    def one_off_view(self, request):
        if not self.has_one_off_permission(request):
            raise PermissionDenied
        form = OneOffInvoiceForm(request.POST or None)
        lines = OneOffLineFormSet(request.POST or None, prefix="lines")
        if request.method == "POST" and form.is_valid() and lines.is_valid():
            invoice = self.one_off_create(request, form, lines)
            if invoice is not None:
                if invoice.status == InvoiceStatus.DRAFT:
                    zone = customer_zone(invoice.customer)
                    when = local_date(invoice.scheduled_issue_at, zone)
                    text = (
                        f"One-off invoice {invoice} ({money(invoice.total, invoice.currency)}) "
                        f"scheduled: it is issued on {when:%Y-%m-%d}."
                    )
                else:
                    text = (
                        f"One-off invoice {invoice} issued: "
                        f"{money(invoice.total, invoice.currency)}."
                    )
                self.message_user(request, text, messages.SUCCESS)
                return redirect("admin:billing_invoice_change", invoice.pk)
        context = self.page_context(request, "Add one-off invoice", form=form, lines=lines)
        return TemplateResponse(request, ONE_OFF_TEMPLATE, context)

    def one_off_create(self, request, form, formset) -> Invoice | None:
        data = form.cleaned_data
        customer = data["customer"]
        filled = [
            (index, f.cleaned_data) for index, f in enumerate(formset.forms) if f.cleaned_data
        ]
        at = timezone.now()
        issue_at = None
        if data["issue_on"] and data["issue_on"] != local_date(at, customer_zone(customer)):
            issue_at = local_midnight(data["issue_on"], customer.timezone)
        try:
            invoice = one_off_invoice_create(
                customer=customer,
                currency=(data["currency"] or customer.currency).upper(),
                lines=[
                    OneOffLine(
                        description=line["description"],
                        quantity=line["quantity"],
                        unit_amount=line["unit_amount"],
                        tax_code=line.get("tax_code", ""),
                        tax_behavior=line.get("tax_behavior", ""),
                    )
                    for _, line in filled
                ],
                at=at,
                issue_at=issue_at,
                actor=request.user,
            )
        except REFUSED as exc:
            self.one_off_errors(form, formset, filled, exc)
            return None
        self.log_addition(request, invoice, "One-off invoice (admin page).")
        return invoice

    @staticmethod
    def one_off_errors(form, formset, filled, exc) -> None:
        """The service's errors on the fields: `lines.<n>.<field>` on the n-th filled line."""
        if not (isinstance(exc, ValidationError) and hasattr(exc, "error_dict")):
            form.add_error(None, error_text(exc))
            return
        names = {"issue_at": "issue_on"}
        for name, errors in exc.error_dict.items():
            parts = name.split(".")
            if parts[0] == "lines" and len(parts) == 3 and int(parts[1]) < len(filled):
                line_form = formset.forms[filled[int(parts[1])][0]]
                field = parts[2] if parts[2] in line_form.fields else None
                line_form.add_error(field, errors)
                continue
            target = names.get(name, name)
            form.add_error(target if target in form.fields else None, errors)
