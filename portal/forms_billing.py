"""Forms of the portal's billing pages. They check input only; the views call the services.

The sandbox card form takes one of the sandbox's published test card numbers (or picks a test
token) and turns it into the sandbox token here, so the number goes no further than this
form: it is never stored, logged or shown back."""

import re

from django import forms

from billing.models import PaymentMethod, PaymentMethodStatus
from billing.payments.gateways.sandbox import CARD_NUMBERS, TEST_TOKENS, test_token_for

NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
STRIPE_TOKEN = re.compile(r"^(pm|seti)_[A-Za-z0-9_]{4,250}$")


class CardNumberInput(forms.TextInput):
    """A card number input that never renders a value back into the page."""

    def format_value(self, value):
        return None


def _token_label(token: str) -> str:
    card = TEST_TOKENS[token]
    what = f"{card.brand.title()} •••• {card.last4}" if card.kind == "card" else card.bank_name
    return f"{token} ({what})"


TOKEN_CHOICES = [("", "— or pick a test token —")] + [
    (token, _token_label(token)) for token in TEST_TOKENS
]
TEST_NUMBERS_HELP = "Sandbox test numbers, e.g. 4242 4242 4242 4242 (succeeds), " + (
    "4000 0000 0000 0002 (declined), 4000 0027 6000 3184 (3-D Secure)."
)


class SandboxCardForm(forms.Form):
    card_number = forms.CharField(
        label="Card number",
        required=False,
        max_length=23,
        help_text=TEST_NUMBERS_HELP,
        widget=CardNumberInput(
            attrs={"autocomplete": "off", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )
    test_token = forms.ChoiceField(label="Test token", required=False, choices=TOKEN_CHOICES)
    make_default = forms.BooleanField(label="Make it the default", required=False)

    def clean(self):
        cleaned = super().clean()
        number = "".join((cleaned.pop("card_number", "") or "").split()).replace("-", "")
        picked = cleaned.get("test_token") or ""
        if number and picked:
            raise forms.ValidationError("Give a card number or a test token, not both.")
        if number:
            token = test_token_for(number)
            if token is None:
                self.add_error(
                    "card_number",
                    "That is not one of the sandbox's test card numbers "
                    f"({len(CARD_NUMBERS)} are published; try 4242 4242 4242 4242).",
                )
                return cleaned
            cleaned["token"] = token
        elif picked:
            cleaned["token"] = picked
        else:
            raise forms.ValidationError("Give a test card number or pick a test token.")
        return cleaned


class StripeMethodForm(forms.Form):
    """What Stripe.js hands back after confirming a SetupIntent: its id (or the method's)."""

    token = forms.CharField(max_length=255, widget=forms.HiddenInput)
    make_default = forms.BooleanField(label="Make it the default", required=False)

    def clean_token(self):
        token = self.cleaned_data["token"].strip()
        if not STRIPE_TOKEN.match(token):
            raise forms.ValidationError("Expected a Stripe SetupIntent (seti_…) or method (pm_…).")
        return token


class PayForm(forms.Form):
    """Pay an open invoice with a card on file. `nonce` is made when the form is shown: the
    same submission twice is one payment."""

    method = forms.ModelChoiceField(
        label="Pay with",
        queryset=PaymentMethod.objects.none(),
        empty_label=None,
        to_field_name="pk",
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args, customer, **kwargs):
        super().__init__(*args, **kwargs)
        methods = PaymentMethod.objects.filter(
            customer=customer, status=PaymentMethodStatus.ACTIVE
        ).order_by("-is_default", "-created_at", "-pk")
        self.fields["method"].queryset = methods
        self.fields["method"].label_from_instance = lambda m: (
            f"{m.label} (default)" if m.is_default else m.label
        )
        default = next((m for m in methods if m.is_default), None)
        if default is not None:
            self.fields["method"].initial = default.pk

    def clean_nonce(self):
        nonce = self.cleaned_data["nonce"]
        if not NONCE.match(nonce):
            raise forms.ValidationError("This form has expired; open it again.")
        return nonce
