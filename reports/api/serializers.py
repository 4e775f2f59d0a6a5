from rest_framework import serializers

from billing.tax.api.serializers import PercentField
from catalog.api.fields import MoneyAmountField
from catalog.validators import validate_currency


class TaxReportQuerySerializer(serializers.Serializer):
    """`?from=&to=&currency=`: dates of the tax point, both included; a currency code."""

    to = serializers.DateField(required=False, allow_null=True)
    currency = serializers.CharField(
        required=False, allow_blank=True, max_length=3, validators=[validate_currency]
    )

    def get_fields(self):
        # `from` is a Python keyword: declared here rather than as a class attribute.
        fields = super().get_fields()
        return {"from": serializers.DateField(required=False, allow_null=True), **fields}

    def validate(self, data):
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            raise serializers.ValidationError(
                {"to": serializers.ErrorDetail("`to` is before `from`.", code="invalid_range")}
            )
        return data


class TaxReportRowOutputSerializer(serializers.Serializer):
    """The tax of one jurisdiction, name, rate and currency over the period: invoices' less
    credit notes'."""

    jurisdiction = serializers.CharField(help_text="A country (DE) or country-region (US-TX).")
    name = serializers.CharField(help_text="VAT, GST, HST, PST, QST, IGST, sales_tax, …")
    rate = PercentField()
    currency = serializers.CharField()
    taxable_amount = MoneyAmountField(help_text="Net amount taxed, credit notes deducted.")
    tax_amount = MoneyAmountField(help_text="Tax, credit notes deducted.")
    invoices = serializers.IntegerField(help_text="Invoices with tax of this row.")
    credit_notes = serializers.IntegerField(help_text="Credit notes netted in this row.")


class TaxReportOutputSerializer(serializers.Serializer):
    rows = TaxReportRowOutputSerializer(many=True)
