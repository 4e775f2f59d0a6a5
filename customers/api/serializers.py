from rest_framework import serializers

from api.serializers import StrictSerializer
from catalog.api.serializers import code_field, currency_field, text
from catalog.validators import validate_country, validate_timezone
from customers.models import Customer, InvoiceDelivery, TaxExempt


def country_field(**kwargs) -> serializers.CharField:
    return serializers.CharField(max_length=2, validators=[validate_country], **kwargs)


class AddressSerializer(StrictSerializer):
    line1 = text(200, required=False, allow_blank=True)
    line2 = text(200, required=False, allow_blank=True)
    city = text(100, required=False, allow_blank=True)
    postal_code = text(20, required=False, allow_blank=True)
    state = text(100, required=False, allow_blank=True)
    country = country_field(required=False, allow_blank=True)


TAX_EXEMPT_HELP = (
    "none: taxed as usual; exempt: no tax (reason `exempt`); reverse: the customer accounts "
    "for the tax (reverse charge)."
)


def tax_exempt_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=TaxExempt.choices, help_text=TAX_EXEMPT_HELP, **kwargs)


PAYMENT_TERMS_HELP = (
    "Invoices are due this many days after they are issued (0: on receipt); null: the "
    "platform's default terms."
)
INVOICE_DELIVERY_HELP = (
    "email: each invoice is mailed with its PDF when issued (and shown in the portal); "
    "portal: no invoice mail, the customer finds its invoices in the portal."
)


def payment_terms_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=0, max_value=3650, allow_null=True, help_text=PAYMENT_TERMS_HELP, **kwargs
    )


def invoice_delivery_field(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=InvoiceDelivery.choices, help_text=INVOICE_DELIVERY_HELP, **kwargs
    )


class CustomerOutputSerializer(serializers.ModelSerializer):
    address = serializers.SerializerMethodField()
    archived = serializers.BooleanField(source="is_archived", read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "name",
            "email",
            "currency",
            "timezone",
            "country",
            "tax_id",
            "tax_id_status",
            "tax_id_checked_at",
            "tax_exempt",
            "address",
            "payment_terms_days",
            "invoice_delivery",
            "metadata",
            "archived",
            "archived_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "tax_id": {"help_text": "VAT/GST number, normalised (DE123456789)."},
            "tax_id_status": {
                "help_text": "The check of `tax_id`: unverified (none given, or not checked), "
                "valid (the customer is a business), invalid, or pending (the EU's VIES "
                "service did not answer; its invoices stay drafts until it does)."
            },
            "tax_id_checked_at": {"help_text": "When `tax_id` was last checked; null: never."},
            "tax_exempt": {"help_text": TAX_EXEMPT_HELP},
            "payment_terms_days": {"help_text": PAYMENT_TERMS_HELP},
            "invoice_delivery": {"help_text": INVOICE_DELIVERY_HELP},
        }

    def get_address(self, customer: Customer) -> AddressSerializer:
        return {
            "line1": customer.address_line1,
            "line2": customer.address_line2,
            "city": customer.address_city,
            "postal_code": customer.address_postal_code,
            "state": customer.address_state,
            "country": customer.address_country,
        }


# drf-spectacular reads the method's return annotation as the address schema.
CustomerOutputSerializer.get_address.__annotations__["return"] = AddressSerializer


class CustomerCreateInputSerializer(StrictSerializer):
    external_id = code_field()
    name = text(200)
    email = serializers.EmailField(max_length=254)
    currency = currency_field()
    timezone = serializers.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    country = country_field(required=False, allow_blank=True, default="")
    tax_id = text(
        64,
        required=False,
        allow_blank=True,
        default="",
        help_text="VAT/GST number; normalised and checked (`tax_id_status`).",
    )
    tax_exempt = tax_exempt_field(required=False)
    address = AddressSerializer(required=False)
    payment_terms_days = payment_terms_field(required=False, default=None)
    invoice_delivery = invoice_delivery_field(required=False, default=InvoiceDelivery.EMAIL)
    metadata = serializers.DictField(required=False, default=dict)


class CustomerUpdateInputSerializer(StrictSerializer):
    name = text(200, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    currency = currency_field(required=False)
    timezone = serializers.CharField(max_length=64, required=False, validators=[validate_timezone])
    country = country_field(required=False, allow_blank=True)
    tax_id = text(
        64,
        required=False,
        allow_blank=True,
        help_text="VAT/GST number; normalised and checked again (`tax_id_status`).",
    )
    tax_exempt = tax_exempt_field(required=False)
    address = AddressSerializer(required=False)
    payment_terms_days = payment_terms_field(required=False)
    invoice_delivery = invoice_delivery_field(required=False)
    metadata = serializers.DictField(required=False)
