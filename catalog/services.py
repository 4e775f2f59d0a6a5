"""Writes to the catalog. Each service validates fully and changes nothing on error."""

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from catalog.models import (
    AddOn,
    BillableMetric,
    Charge,
    Entitlement,
    Feature,
    FeatureKind,
    Plan,
    PlanStatus,
    Product,
    ServiceLevel,
)
from catalog.pricing import MONEY_PROPERTIES, ChargePropertiesError, normalize_properties
from catalog.validators import validate_money_places

# Changing these on a plan in use makes a new version; name and description change in place.
PLAN_TERMS = (
    "currency",
    "interval",
    "interval_count",
    "amount",
    "pay_in_advance",
    "trial_days",
    "tax_behavior",
    "tax_code",
)


def _clean(instance: models.Model, prefix: str = "", exclude: list[str] | None = None) -> None:
    """full_clean(), with field names prefixed so nested errors point at their place."""
    try:
        instance.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as exc:
        if not prefix:
            raise
        raise ValidationError({f"{prefix}.{k}": v for k, v in exc.message_dict.items()}) from exc


def product_create(*, code: str, name: str, description: str = "") -> Product:
    product = Product(code=code, name=name, description=description)
    _clean(product)
    product.save()
    return product


def product_update(*, product: Product, **changes: Any) -> Product:
    unknown = set(changes) - {"name", "description", "active"}
    if unknown:
        raise ValidationError(
            {sorted(unknown)[0]: ValidationError("This field cannot be changed.", code="read_only")}
        )
    for key, value in changes.items():
        setattr(product, key, value)
    _clean(product)
    product.save()
    return product


def metric_create(
    *, code: str, name: str, aggregation: str, field: str = "", description: str = ""
) -> BillableMetric:
    metric = BillableMetric(
        code=code, name=name, aggregation=aggregation, field=field or "", description=description
    )
    _clean(metric)
    if aggregation != "count" and not metric.field:
        raise ValidationError(
            {
                "field": ValidationError(
                    "Name the event property this aggregation reads.", code="required"
                )
            }
        )
    metric.save()
    return metric


def metric_update(
    *, metric: BillableMetric, name: str | None = None, description: str | None = None
) -> BillableMetric:
    """Only the labels change: the aggregation of a metric in use would rewrite billed usage."""
    if name is not None:
        metric.name = name
    if description is not None:
        metric.description = description
    _clean(metric)
    metric.save(update_fields=["name", "description"])
    return metric


def feature_create(
    *, code: str, name: str, kind: str, metric: BillableMetric | None = None, description: str = ""
) -> Feature:
    feature = Feature(code=code, name=name, kind=kind, metric=metric, description=description)
    _clean(feature)
    if kind == FeatureKind.QUOTA and metric is None:
        raise ValidationError(
            {
                "metric": ValidationError(
                    "A quota feature names the metric it limits.", code="required"
                )
            }
        )
    if kind != FeatureKind.QUOTA and metric is not None:
        raise ValidationError(
            {"metric": ValidationError("Only quota features have a metric.", code="not_allowed")}
        )
    feature.save()
    return feature


def feature_update(
    *, feature: Feature, name: str | None = None, description: str | None = None
) -> Feature:
    if name is not None:
        feature.name = name
    if description is not None:
        feature.description = description
    _clean(feature)
    feature.save(update_fields=["name", "description"])
    return feature


def _entitlement(feature: Feature, value: Any, path: str) -> Entitlement:
    if feature.kind == FeatureKind.BOOLEAN:
        if not isinstance(value, bool):
            raise ValidationError(
                {
                    f"{path}.value": ValidationError(
                        "An on/off feature takes true or false.", code="invalid_value"
                    )
                }
            )
        return Entitlement(feature=feature, enabled=value, limit=None)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValidationError(
            {
                f"{path}.value": ValidationError(
                    "A quota or seats feature takes a whole number ≥ 0, or null for unlimited.",
                    code="invalid_value",
                )
            }
        )
    return Entitlement(feature=feature, enabled=True, limit=value)


def _entitlements(specs: list[dict]) -> list[Entitlement]:
    rows, seen = [], set()
    for index, spec in enumerate(specs):
        feature = spec["feature"]
        if feature.pk in seen:
            raise ValidationError(
                {
                    f"entitlements.{index}.feature": ValidationError(
                        "Each feature may appear once.", code="duplicate"
                    )
                }
            )
        seen.add(feature.pk)
        rows.append(_entitlement(feature, spec.get("value"), f"entitlements.{index}"))
    return rows


def _charges(specs: list[dict], currency: str) -> list[Charge]:
    rows = []
    for index, spec in enumerate(specs):
        path = f"charges.{index}"
        metric = spec["metric"]
        if metric.archived_at is not None:
            raise ValidationError(
                {f"{path}.metric": ValidationError("This metric is archived.", code="archived")}
            )
        try:
            properties = normalize_properties(spec["model"], spec.get("properties") or {})
        except ChargePropertiesError as exc:
            field = f"{path}.model" if exc.field == "model" else f"{path}.properties"
            if exc.field and exc.field != "model":
                field += f".{exc.field}"
            raise ValidationError({field: ValidationError(exc.message, code=exc.code)}) from exc
        _charge_money_places(properties, currency, f"{path}.properties")
        rows.append(
            Charge(metric=metric, model=spec["model"], properties=properties, position=index)
        )
    return rows


def _charge_money_places(properties: dict, currency: str, path: str) -> None:
    """Money amounts of a charge (not unit amounts or the rate) fit the plan's currency."""
    for key in MONEY_PROPERTIES:
        if properties.get(key) is not None:
            validate_money_places(Decimal(properties[key]), currency, f"{path}.{key}")
    for index, tier in enumerate(properties.get("tiers") or []):
        validate_money_places(
            Decimal(tier["flat_amount"]), currency, f"{path}.tiers.{index}.flat_amount"
        )


def plan_in_use(plan: Plan) -> bool:
    """True when anything outside the catalog protects this plan (subscriptions, invoices).

    Found through the reverse relations, so the catalog needs no import of billing.
    """
    for relation in plan._meta.related_objects:
        if relation.on_delete is models.PROTECT:
            if relation.related_model._default_manager.filter(
                **{relation.field.name: plan}
            ).exists():
                return True
    return False


@transaction.atomic
def plan_create(
    *,
    code: str,
    name: str,
    currency: str,
    interval: str = "month",
    interval_count: int = 1,
    amount: Decimal = Decimal(0),
    pay_in_advance: bool = True,
    trial_days: int = 0,
    pausable: bool = True,
    service_level: ServiceLevel | None = None,
    description: str = "",
    product: Product | None = None,
    charges: list[dict] | None = None,
    entitlements: list[dict] | None = None,
    tax_behavior: str = "exclusive",
    tax_code: str = "saas",
) -> Plan:
    """Create a plan (version 1). `charges`: [{metric, model, properties}];
    `entitlements`: [{feature, value}] with model instances for metric/feature."""
    if Plan.objects.filter(code=code).exists():
        raise ValidationError(
            {
                "code": ValidationError(
                    "A plan with this code exists; change it to make a new version.", code="unique"
                )
            }
        )
    plan = Plan(
        code=code,
        name=name,
        currency=currency,
        interval=interval,
        interval_count=interval_count,
        amount=amount,
        pay_in_advance=pay_in_advance,
        trial_days=trial_days,
        pausable=pausable,
        service_level=service_level,
        description=description,
        product=product,
        tax_behavior=tax_behavior,
        tax_code=tax_code,
    )
    return _plan_save(plan, charges or [], entitlements or [])


def _plan_save(plan: Plan, charge_specs: list[dict], entitlement_specs: list[dict]) -> Plan:
    _clean(plan, exclude=["is_latest"])
    charge_rows = _charges(charge_specs, plan.currency)
    entitlement_rows = _entitlements(entitlement_specs)
    plan.save()
    for row in charge_rows:
        row.plan = plan
    for row in entitlement_rows:
        row.plan = plan
    Charge.objects.bulk_create(charge_rows)
    Entitlement.objects.bulk_create(entitlement_rows)
    return plan


def _charge_specs(plan: Plan) -> list[dict]:
    return [
        {"metric": c.metric, "model": c.model, "properties": c.properties}
        for c in plan.charges.select_related("metric")
    ]


def _entitlement_specs(plan: Plan) -> list[dict]:
    return [
        {"feature": e.feature, "value": e.value}
        for e in plan.entitlements.select_related("feature")
    ]


@transaction.atomic
def plan_update(
    *,
    plan: Plan,
    charges: list[dict] | None = None,
    entitlements: list[dict] | None = None,
    **changes: Any,
) -> Plan:
    """Change a plan. A plan in use gets a new version for changed terms; its subscribers keep
    the version they have. Returns the version that now carries the changes."""
    plan = Plan.objects.select_for_update().get(pk=plan.pk)
    if not plan.is_latest:
        raise ValidationError(
            {
                "code": ValidationError(
                    f"Version {plan.version} was replaced; change the latest version.",
                    code="not_latest",
                )
            }
        )
    policy = {"name", "description", "product", "status", "pausable", "service_level"}
    unknown = set(changes) - {*PLAN_TERMS, *policy}
    if unknown:
        raise ValidationError(
            {sorted(unknown)[0]: ValidationError("This field cannot be changed.", code="read_only")}
        )
    terms_change = (
        charges is not None
        or entitlements is not None
        or any(getattr(plan, k) != v for k, v in changes.items() if k in PLAN_TERMS)
    )
    if terms_change and plan_in_use(plan):
        new = Plan(
            **{
                f.attname: getattr(plan, f.attname)
                for f in Plan._meta.concrete_fields
                if f.name not in ("id", "created_at")
            }
        )
        new.version = plan.version + 1
        for key, value in changes.items():
            setattr(new, key, value)
        plan.is_latest = False
        plan.save(update_fields=["is_latest"])
        return _plan_save(
            new,
            _charge_specs(plan) if charges is None else charges,
            _entitlement_specs(plan) if entitlements is None else entitlements,
        )
    for key, value in changes.items():
        setattr(plan, key, value)
    _clean(plan, exclude=["is_latest"])
    new_charges = None if charges is None else _charges(charges, plan.currency)
    new_entitlements = None if entitlements is None else _entitlements(entitlements)
    plan.save()
    if new_charges is not None:
        plan.charges.all().delete()
        for row in new_charges:
            row.plan = plan
        Charge.objects.bulk_create(new_charges)
    if new_entitlements is not None:
        plan.entitlements.all().delete()
        for row in new_entitlements:
            row.plan = plan
        Entitlement.objects.bulk_create(new_entitlements)
    return plan


@transaction.atomic
def plan_archive(*, plan: Plan) -> Plan:
    """No new subscriptions; existing subscribers keep it."""
    Plan.objects.filter(code=plan.code).update(status=PlanStatus.ARCHIVED)
    plan.refresh_from_db()
    return plan


@transaction.atomic
def addon_create(
    *,
    code: str,
    name: str,
    currency: str,
    amount: Decimal,
    interval: str,
    description: str = "",
    entitlements: list[dict] | None = None,
    tax_behavior: str = "exclusive",
    tax_code: str = "saas",
) -> AddOn:
    addon = AddOn(
        code=code,
        name=name,
        currency=currency,
        amount=amount,
        interval=interval,
        description=description,
        tax_behavior=tax_behavior,
        tax_code=tax_code,
    )
    _clean(addon)
    rows = _entitlements(entitlements or [])
    addon.save()
    for row in rows:
        row.addon = addon
    Entitlement.objects.bulk_create(rows)
    return addon


def addon_update(*, addon: AddOn, **changes: Any) -> AddOn:
    """Name, description and active only: the price of an add-on in use is its contract."""
    unknown = set(changes) - {"name", "description", "active"}
    if unknown:
        raise ValidationError(
            {
                sorted(unknown)[0]: ValidationError(
                    "This field cannot be changed; create a new add-on.", code="read_only"
                )
            }
        )
    for key, value in changes.items():
        setattr(addon, key, value)
    _clean(addon)
    addon.save()
    return addon


def service_level_create(
    *,
    code: str,
    name: str,
    uptime_target: Decimal,
    credit_tiers: list[dict] | None = None,
    response_time: str = "",
    description: str = "",
) -> ServiceLevel:
    """An SLA plans can promise; its credit tiers are checked (`sla_tiers_clean`)."""
    level = ServiceLevel(
        code=code,
        name=name,
        uptime_target=uptime_target,
        credit_tiers=credit_tiers or [],
        response_time=response_time,
        description=description,
    )
    level.full_clean()
    level.save()
    return level
