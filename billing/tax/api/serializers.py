from decimal import Decimal

from django.core.validators import EmailValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers import StrictSerializer
from billing.tax.models import Rounding, TaxRegistration, TaxSettings
from catalog.api.fields import MoneyAmountField
from catalog.validators import validate_country

RATE_PATTERN = r"^[0-9]+(\.[0-9]+)?$"
REGION_HELP = "A US state or Canadian province code (TX, QC); blank: the whole country."


def country_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=2, validators=[validate_country], **kwargs)


@extend_schema_field({"type": "string", "pattern": RATE_PATTERN, "example": "19"})
class PercentField(serializers.Field):
    """A rate in percent as a decimal string without trailing zeros ("19", "9.975")
    (output only)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", 'Percent, without trailing zeros ("19", "9.975").')
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value):
        return format(Decimal(str(value)).normalize(), "f")


class TaxAmountOutputSerializer(serializers.Serializer):
    """One tax: on an invoice line, one of its components; on an invoice or a credit note, the
    sum of its lines' taxes of one name, jurisdiction, rate and reason."""

    name = serializers.CharField(
        help_text="VAT, GST, HST, PST, QST, IGST, sales_tax, … (a sale without tax shows the "
        "name its jurisdiction's tax has, at rate 0)."
    )
    jurisdiction = serializers.CharField(
        help_text="Where the tax is due: a country (DE) or a country and region (CA-QC, US-TX)."
    )
    rate = PercentField()
    taxable_amount = MoneyAmountField(help_text="The net amount taxed.")
    amount = MoneyAmountField(help_text="The tax.")
    reason = serializers.CharField(
        help_text="standard, reverse_charge, not_collecting (the seller has no registration "
        "there), exempt, …"
    )


def taxes_out(rows: list[dict], currency: str) -> list[dict]:
    """Stored tax rows (amounts as decimal strings) as the API answers them in `currency`."""
    return TaxAmountOutputSerializer(rows or [], many=True, context={"currency": currency}).data


# Settings
class TaxSettingsOutputSerializer(serializers.ModelSerializer):
    """The seller: who issues the invoices, its tax home, and how tax is rounded."""

    # Plain strings out (a blank value included), not the model's patterns.
    email = serializers.CharField(read_only=True, help_text="Blank: not set.")
    seller_country = serializers.CharField(
        read_only=True, help_text="ISO 3166-1 alpha-2; blank: not set yet."
    )
    seller_region = serializers.CharField(read_only=True, help_text=REGION_HELP)

    class Meta:
        model = TaxSettings
        fields = [
            "legal_name",
            "address",
            "email",
            "seller_country",
            "seller_region",
            "rounding",
            "eu_oss",
            "updated_at",
        ]
        extra_kwargs = {
            "rounding": {
                "help_text": "line: each line's tax is rounded to the minor unit; invoice: the "
                "unrounded tax of each rate is added up and rounded once per rate."
            },
            "eu_oss": {
                "help_text": "Registered for the EU One-Stop Shop: EU consumers pay their "
                "country's rate. false: under the EUR 10,000 distance-selling threshold, "
                "they pay the seller's home rate."
            },
        }


class TaxSettingsUpdateInputSerializer(StrictSerializer):
    legal_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    address = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="One line per line on the invoice.",
    )
    email = serializers.CharField(
        max_length=254,
        required=False,
        allow_blank=True,
        validators=[EmailValidator()],
        help_text="An email address; blank: none.",
    )
    seller_country = country_field(
        required=False, allow_blank=True, help_text="ISO 3166-1 alpha-2 (IE, US)."
    )
    seller_region = serializers.CharField(
        max_length=2, required=False, allow_blank=True, help_text=REGION_HELP
    )
    rounding = serializers.ChoiceField(choices=Rounding.choices, required=False)
    eu_oss = serializers.BooleanField(required=False)


# Registrations
class TaxRegistrationOutputSerializer(serializers.ModelSerializer):
    region = serializers.CharField(read_only=True, help_text=REGION_HELP)

    class Meta:
        model = TaxRegistration
        fields = ["id", "country", "region", "number", "created_at"]


class TaxRegistrationCreateInputSerializer(StrictSerializer):
    country = country_field(help_text="ISO 3166-1 alpha-2 (IE, US).")
    region = serializers.CharField(
        max_length=2, required=False, allow_blank=True, default="", help_text=REGION_HELP
    )
    number = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The registration number (shown on invoices).",
    )
