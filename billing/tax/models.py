"""The seller's tax set-up (one row), where it collects, and staff's rate overrides."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from catalog.validators import validate_country
from customers.models import Customer


class Rounding(models.TextChoices):
    LINE = "line", "Per line"
    INVOICE = "invoice", "Once per rate on the invoice"


region_validator = RegexValidator(
    r"^([A-Z]{2})?$", "A region is a 2-letter state or province code (e.g. TX, QC), or blank."
)


class TaxSettings(models.Model):
    """The seller: who issues the invoices and where its tax home is. One row (pk 1)."""

    legal_name = models.CharField(
        max_length=200, blank=True, help_text="Shown on invoices; blank uses INVOICE_SELLER."
    )
    address = models.TextField(blank=True, help_text="One line per line on the invoice.")
    email = models.EmailField(blank=True)
    seller_country = models.CharField(
        max_length=2, blank=True, validators=[validate_country], help_text="ISO 3166-1 alpha-2."
    )
    seller_region = models.CharField(max_length=2, blank=True, validators=[region_validator])
    rounding = models.CharField(max_length=10, choices=Rounding.choices, default=Rounding.LINE)
    eu_oss = models.BooleanField(
        default=True,
        help_text="Registered for the EU One-Stop Shop: EU consumers pay their country's "
        "rate. Off: under the EUR 10,000 threshold, they pay the home rate.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "tax settings"
        verbose_name_plural = "tax settings"

    def __str__(self) -> str:
        return f"Tax settings ({self.seller_country or 'no country'})"


class TaxRegistration(models.Model):
    """A jurisdiction where the seller collects tax: a country, or a US state / Canadian
    province of it (region blank = the whole country)."""

    country = models.CharField(max_length=2, validators=[validate_country])
    region = models.CharField(max_length=2, blank=True, validators=[region_validator])
    number = models.CharField(max_length=64, blank=True, help_text="The registration number.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["country", "region"]
        constraints = [
            models.UniqueConstraint(fields=["country", "region"], name="tax_registration_unique")
        ]

    def __str__(self) -> str:
        place = f"{self.country}-{self.region}" if self.region else self.country
        return f"{place} {self.number}".strip()


class TaxRateOverride(models.Model):
    """A rate staff add or correct: in force on a date, it replaces the built-in table's rows
    of the same jurisdiction and name."""

    jurisdiction = models.CharField(
        max_length=5,
        validators=[RegexValidator(r"^[A-Z]{2}(-[A-Z]{2})?$", "Like DE or CA-QC.")],
    )
    name = models.CharField(
        max_length=10,
        choices=[(n, n) for n in ("VAT", "GST", "HST", "PST", "RST", "QST", "IGST", "sales_tax")],
    )
    rate = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Percent.",
    )
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True, help_text="Exclusive.")
    taxable_share = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal(1),
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal(1))],
    )
    source = models.CharField(max_length=300, help_text="The authority's page or dataset.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["jurisdiction", "name", "valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_from__isnull=True)
                | Q(valid_to__isnull=True)
                | Q(valid_to__gt=models.F("valid_from")),
                name="tax_rate_override_period",
            )
        ]

    def __str__(self) -> str:
        return f"{self.jurisdiction} {self.name} {self.rate.normalize():f}%"


class CustomerVatNumber(Customer):
    """The customers' VAT/GST numbers, their check status and evidence: a view of
    `customers.Customer` for the tax pages of the console (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "customer VAT number"
        verbose_name_plural = "customer VAT numbers"
