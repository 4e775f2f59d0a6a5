"""The forms of the invoice console's pages (billing/invoicing/admin/invoice_pages.py): a
reason for a destructive action, a credit note by line, a one-off invoice. They only collect
input; the services check it and their refusals come back on the form."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from api.errors import error_text
from billing.invoicing.models.credits import CreditNoteReason
from billing.invoicing.models.invoices import Invoice
from catalog.models import TaxBehavior, TaxCode
from catalog.money import format_amount
from customers.models import Customer


def add_service_errors(form: forms.Form, exc: Exception, fields: dict[str, str] | None = None):
    """A service's refusal on the form: an error on a field the service names (or that
    `fields` maps its name to) goes on that field, the rest on top."""
    fields = fields or {}
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            target = fields.get(name, name)
            form.add_error(target if target in form.fields else None, errors)
    else:
        form.add_error(None, error_text(exc))


class ReasonForm(forms.Form):
    """The confirmation of a destructive action: why (kept on the billing event)."""

    reason = forms.CharField(
        max_length=300,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Kept on the invoice's billing event.",
    )


class ResendForm(forms.Form):
    """Nothing to fill in: the confirmation itself."""


SETTLE_CHOICES = [
    ("balance", "Credit it to the customer's balance (used by its next invoices)"),
    ("refund", "Refund it to the payment it was paid with"),
]


class CreditNoteForm(forms.Form):
    """An amount (tax included) to credit per invoice line, the reason, and what happens to
    money the customer already paid; on an open invoice the amount due is reduced first."""

    reason = forms.ChoiceField(choices=CreditNoteReason.choices)
    memo = forms.CharField(
        max_length=500, required=False, help_text="Shown on the credit note document."
    )
    settle = forms.ChoiceField(
        label="Money already paid",
        choices=SETTLE_CHOICES,
        initial="balance",
        widget=forms.RadioSelect,
        help_text="On an open invoice the credit first reduces the amount still due; only "
        "what exceeds it is refunded or credited to the balance.",
    )

    def __init__(self, *args, invoice: Invoice, left: dict[int, Decimal], **kwargs):
        super().__init__(*args, **kwargs)
        self.invoice = invoice
        self.rows = []
        for line in invoice.lines.order_by("position", "pk"):
            name = f"line_{line.pk}"
            self.fields[name] = forms.DecimalField(
                label=line.description,
                required=False,
                min_value=Decimal(0),
                max_digits=19,
                decimal_places=4,
                widget=forms.NumberInput(attrs={"step": "any", "size": 10}),
            )
            self.rows.append((line, name, left.get(line.pk, Decimal(0))))

    def line_fields(self) -> list[dict]:
        """Per invoice line: the line, its bound field, its amounts as shown (the currency's
        precision) and what is left to credit on it (tax included)."""
        currency = self.invoice.currency
        return [
            {
                "line": line,
                "field": self[name],
                "quantity": f"{line.quantity.normalize():f}",
                "amount": f"{format_amount(line.amount, currency)} {currency}",
                "tax": f"{format_amount(line.tax_amount, currency)} {currency}",
                "tax_rate": f"{line.tax_rate.normalize():f}%",
                "left": f"{format_amount(left, currency)} {currency}",
            }
            for line, name, left in self.rows
        ]

    def credited_lines(self) -> list[dict]:
        """The lines given an amount, as `credit_note_issue` takes them."""
        return [
            {"invoice_line": line.pk, "amount": self.cleaned_data[name]}
            for line, name, _ in self.rows
            if self.cleaned_data.get(name)
        ]

    def line_field_names(self) -> dict[str, str]:
        """The service's names of line errors (`lines.<n>.amount`) → this form's fields."""
        given = [name for line, name, _ in self.rows if self.cleaned_data.get(name)]
        names = {}
        for index, name in enumerate(given):
            names[f"lines.{index}.amount"] = name
            names[f"lines.{index}.line"] = name
        return names

    def clean(self):
        cleaned = super().clean()
        if not self.errors and not self.credited_lines():
            raise ValidationError("Give an amount to credit on at least one line.")
        return cleaned


TAX_CODE_CHOICES = [("", "SaaS (default)"), *TaxCode.choices]
TAX_BEHAVIOR_CHOICES = [("", "Exclusive (default)"), *TaxBehavior.choices]


class OneOffInvoiceForm(forms.Form):
    customer = forms.ModelChoiceField(
        queryset=Customer.objects.filter(archived_at__isnull=True),
        to_field_name="external_id",
        widget=forms.TextInput,
        help_text="The customer's external_id.",
        error_messages={"invalid_choice": "No active customer has this external_id."},
    )
    currency = forms.CharField(
        max_length=3, required=False, help_text="Empty: the customer's currency."
    )
    issue_on = forms.DateField(
        label="Issue on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty or today: issued now. A later day: a draft issued at the start of "
        "that day in the customer's time zone.",
    )


class OneOffLineForm(forms.Form):
    description = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"size": 30}))
    quantity = forms.DecimalField(
        max_digits=19,
        decimal_places=4,
        initial=1,
        widget=forms.NumberInput(attrs={"step": "any", "class": "one-off-quantity"}),
    )
    unit_amount = forms.DecimalField(
        label="Unit amount",
        max_digits=28,
        decimal_places=12,
        widget=forms.NumberInput(attrs={"step": "any", "class": "one-off-amount"}),
        help_text="Net of tax (unless the behaviour is inclusive).",
    )
    tax_code = forms.ChoiceField(
        choices=TAX_CODE_CHOICES,
        required=False,
        widget=forms.Select(attrs={"class": "one-off-tax"}),
    )
    tax_behavior = forms.ChoiceField(
        choices=TAX_BEHAVIOR_CHOICES,
        required=False,
        widget=forms.Select(attrs={"class": "one-off-tax"}),
    )


class BaseOneOffLineFormSet(forms.BaseFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        if not any(form.cleaned_data for form in self.forms):
            raise ValidationError("Give at least one line.")


OneOffLineFormSet = forms.formset_factory(
    OneOffLineForm, formset=BaseOneOffLineFormSet, extra=3, max_num=100, validate_max=True
)
