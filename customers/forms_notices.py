"""The customer's choice of optional notices, as a staff form (and any form) edits it."""

from django import forms

from customers.models import NON_ESSENTIAL_NOTICES, Customer, NoticeKind


class NoticesOptedOutField(forms.TypedMultipleChoiceField):
    """`Customer.notices_opted_out` as checkboxes of the optional notice kinds."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Notices opted out")
        kwargs.setdefault(
            "help_text",
            "Optional mails this customer does not want. Receipts, invoices, payment failures, "
            "cancellations and account suspensions are always sent.",
        )
        super().__init__(
            choices=[(k.value, k.label) for k in NoticeKind if k in NON_ESSENTIAL_NOTICES],
            widget=forms.CheckboxSelectMultiple,
            required=False,
            **kwargs,
        )

    def prepare_value(self, value):
        return value or []


class CustomerAdminForm(forms.ModelForm):
    notices_opted_out = NoticesOptedOutField()

    class Meta:
        model = Customer
        fields = ["notices_opted_out"]  # the admin adds the fields of its fieldsets
