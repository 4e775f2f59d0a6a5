"""Form fields the billing admin pages share."""

from django import forms

from customers.models import Customer


def customer_field(**kwargs) -> forms.ModelChoiceField:
    """An active customer, typed by its external_id."""
    return forms.ModelChoiceField(
        queryset=Customer.objects.filter(archived_at__isnull=True),
        to_field_name="external_id",
        widget=forms.TextInput,
        help_text="The customer's external_id.",
        error_messages={"invalid_choice": "No active customer has this external_id."},
        **kwargs,
    )
