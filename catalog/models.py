"""The catalog: products, plans (versioned), billable metrics, charges, features, add-ons."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from catalog.pricing import ChargeModel
from catalog.validators import code_validator, validate_currency, validate_money_places

AMOUNT = {"max_digits": 19, "decimal_places": 4, "validators": [MinValueValidator(Decimal(0))]}


class Interval(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class Product(models.Model):
    code = models.CharField(max_length=100, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Aggregation(models.TextChoices):
    COUNT = "count", "Count events"
    SUM = "sum", "Sum of a property"
    MAX = "max", "Maximum of a property"
    UNIQUE_COUNT = "unique_count", "Count of distinct values of a property"
    LATEST = "latest", "Latest value of a property"


class BillableMetric(models.Model):
    """What usage events are aggregated into, per subscription and period."""

    code = models.CharField(max_length=100, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    aggregation = models.CharField(max_length=20, choices=Aggregation.choices)
    field = models.CharField(
        max_length=100, blank=True, help_text="Event property aggregated; unused by count."
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(aggregation="count") | ~Q(field=""),
                name="metric_field_required_unless_count",
            )
        ]

    def __str__(self) -> str:
        return self.code


class ServiceLevel(models.Model):
    """A service level agreement a plan promises: a monthly uptime target, the support
    response, and the credits owed for a period below target. `credit_tiers`:
    [{"below": "99.9", "credit_percent": "10"}, {"below": "99", "credit_percent": "25"}] —
    uptime under `below` percent earns `credit_percent` of the period's base fee (the
    largest tier that applies)."""

    code = models.CharField(max_length=100, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    uptime_target = models.DecimalField(
        max_digits=6,
        decimal_places=3,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text="Monthly uptime promised, in percent (99.9).",
    )
    response_time = models.CharField(
        max_length=200, blank=True, help_text="Support response promised (4 business hours)."
    )
    credit_tiers = models.JSONField(default=list, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name} ({self.uptime_target}%)"

    def clean(self) -> None:
        self.credit_tiers = sla_tiers_clean(self.credit_tiers, self.uptime_target)

    def credit_percent(self, uptime: Decimal) -> Decimal:
        """The credit owed for a period of `uptime` percent: 0 at or above every tier."""
        owed = [
            Decimal(t["credit_percent"]) for t in self.credit_tiers if uptime < Decimal(t["below"])
        ]
        return max(owed, default=Decimal(0))


def sla_tiers_clean(tiers, target) -> list[dict]:
    """Tiers as decimal strings, highest `below` first; ValidationError on anything else:
    `below` in (0, target], credit in (0, 100], more credit for lower uptime."""
    if not isinstance(tiers, list):
        raise ValidationError({"credit_tiers": "A list of {below, credit_percent}."})
    clean = []
    for n, tier in enumerate(tiers):
        try:
            below, credit = Decimal(str(tier["below"])), Decimal(str(tier["credit_percent"]))
        except (TypeError, KeyError, ArithmeticError) as error:
            raise ValidationError(
                {"credit_tiers": f"Tier {n + 1}: give below and credit_percent as numbers."}
            ) from error
        if not (0 < below <= Decimal(str(target or 0)) and 0 < credit <= 100):
            raise ValidationError(
                {"credit_tiers": f"Tier {n + 1}: 0 < below ≤ the target, 0 < credit ≤ 100."}
            )
        clean.append({"below": str(below), "credit_percent": str(credit)})
    clean.sort(key=lambda t: Decimal(t["below"]), reverse=True)
    credits = [Decimal(t["credit_percent"]) for t in clean]
    belows = [t["below"] for t in clean]
    if credits != sorted(credits) or len(set(belows)) != len(belows):
        raise ValidationError(
            {"credit_tiers": "Each lower uptime tier must give more credit, once per level."}
        )
    return clean


class TaxBehavior(models.TextChoices):
    EXCLUSIVE = "exclusive", "Exclusive (tax added on top)"
    INCLUSIVE = "inclusive", "Inclusive (the price is the gross)"


class TaxCode(models.TextChoices):
    SAAS = "saas", "Software as a service"
    DIGITAL = "digital", "Digital goods"
    SERVICES = "services", "Services"
    EXEMPT = "exempt", "Exempt from tax"


def tax_behavior_field() -> models.CharField:
    return models.CharField(
        max_length=10, choices=TaxBehavior.choices, default=TaxBehavior.EXCLUSIVE
    )


def tax_code_field() -> models.CharField:
    return models.CharField(max_length=10, choices=TaxCode.choices, default=TaxCode.SAAS)


class PlanStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Plan(models.Model):
    """One version of a plan. A plan in use is never edited: a new version replaces it."""

    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="plans"
    )
    code = models.CharField(max_length=100, validators=[code_validator])
    version = models.PositiveIntegerField(default=1)
    is_latest = models.BooleanField(default=True, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    interval = models.CharField(max_length=10, choices=Interval.choices, default=Interval.MONTH)
    interval_count = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1)])
    amount = models.DecimalField(**AMOUNT, default=Decimal(0), help_text="Recurring base fee.")
    pay_in_advance = models.BooleanField(default=True)
    trial_days = models.PositiveSmallIntegerField(default=0)
    pausable = models.BooleanField(
        default=True, help_text="Customers may pause and resume subscriptions to this plan."
    )
    service_level = models.ForeignKey(
        ServiceLevel,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="plans",
        help_text="The SLA this plan promises (uptime target and credits).",
    )
    tax_behavior = tax_behavior_field()
    tax_code = tax_code_field()
    status = models.CharField(max_length=10, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="plan_code_version_unique"),
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_latest=True), name="plan_one_latest_version"
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="plan_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(interval_count__gte=1), name="plan_interval_count_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})" if self.version > 1 else self.name

    def clean(self) -> None:
        validate_money_places(self.amount, self.currency)


CHARGE_MODEL_CHOICES = [
    (ChargeModel.STANDARD.value, "Standard (per unit)"),
    (ChargeModel.GRADUATED.value, "Graduated tiers"),
    (ChargeModel.VOLUME.value, "Volume tiers"),
    (ChargeModel.PACKAGE.value, "Package"),
    (ChargeModel.PERCENTAGE.value, "Percentage"),
]


class Charge(models.Model):
    """A usage-based price on a plan: a metric priced by one of the pricing models."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="charges")
    metric = models.ForeignKey(BillableMetric, on_delete=models.PROTECT, related_name="charges")
    model = models.CharField(max_length=20, choices=CHARGE_MODEL_CHOICES)
    properties = models.JSONField(default=dict, help_text="Prices of the model; see the API docs.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["plan", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.metric.code} ({self.model})"


class FeatureKind(models.TextChoices):
    BOOLEAN = "boolean", "On/off"
    QUOTA = "quota", "Quota per period"
    SEATS = "seats", "Seats"


class Feature(models.Model):
    code = models.CharField(max_length=100, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=FeatureKind.choices)
    metric = models.ForeignKey(
        BillableMetric,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="features",
        help_text="For a quota: the metric whose usage per period it limits.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="quota") | Q(metric__isnull=False),
                name="quota_feature_has_metric",
            )
        ]

    def __str__(self) -> str:
        return self.code


class AddOnInterval(models.TextChoices):
    ONE_TIME = "one_time", "One time"
    MONTH = "month", "Monthly"
    YEAR = "year", "Yearly"


class AddOn(models.Model):
    code = models.CharField(max_length=100, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    currency = models.CharField(max_length=3, validators=[validate_currency])
    amount = models.DecimalField(**AMOUNT)
    interval = models.CharField(max_length=10, choices=AddOnInterval.choices)
    tax_behavior = tax_behavior_field()
    tax_code = tax_code_field()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "add-on"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="addon_amount_not_negative")
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validate_money_places(self.amount, self.currency)


class Entitlement(models.Model):
    """What a plan or an add-on grants of a feature: on/off, or a limit (null = unlimited)."""

    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.CASCADE, related_name="entitlements"
    )
    addon = models.ForeignKey(
        AddOn, null=True, blank=True, on_delete=models.CASCADE, related_name="entitlements"
    )
    feature = models.ForeignKey(Feature, on_delete=models.PROTECT, related_name="entitlements")
    enabled = models.BooleanField(default=True)
    limit = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="For quota and seats features; empty means unlimited.",
    )

    class Meta:
        ordering = ["feature__code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(plan__isnull=False, addon__isnull=True)
                | Q(plan__isnull=True, addon__isnull=False),
                name="entitlement_of_plan_or_addon",
            ),
            models.UniqueConstraint(fields=["plan", "feature"], name="entitlement_unique_per_plan"),
            models.UniqueConstraint(
                fields=["addon", "feature"], name="entitlement_unique_per_addon"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature.code}={self.value}"

    @property
    def value(self):
        """The API's value: a boolean for on/off features, else the limit (None = unlimited)."""
        if self.feature.kind == FeatureKind.BOOLEAN:
            return self.enabled
        return self.limit
