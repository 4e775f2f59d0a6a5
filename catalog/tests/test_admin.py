from decimal import Decimal

import pytest
from django.contrib import admin
from django.urls import reverse

from catalog import services
from catalog.admin import ChargeInline, PlanAdmin, PlanEntitlementInline
from catalog.models import Charge, Entitlement, Feature, Plan, PlanStatus
from catalog.tests import factories

pytestmark = pytest.mark.django_db
CATALOG_MODELS = [m for m in admin.site._registry if m._meta.app_label == "catalog"]


@pytest.fixture
def catalog(db):
    metric = factories.metric("api_calls")
    factories.feature("sso")
    factories.feature("calls", kind="quota", metric=metric)
    product = services.product_create(code="app", name="App")
    plan = factories.plan("basic", product=product)
    return {"metric": metric, "product": product, "plan": plan}


def formset(prefix, rows, initial=0):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


def plan_form(metric, properties, **overrides):
    data = {
        "code": "pro",
        "name": "Pro",
        "description": "",
        "product": "",
        "status": "active",
        "currency": "USD",
        "interval": "month",
        "interval_count": "1",
        "amount": "49.00",
        "pay_in_advance": "on",
        "trial_days": "0",
        "tax_behavior": "exclusive",
        "tax_code": "saas",
    }
    data.update(
        formset(
            "charges",
            [{"metric": metric.pk, "model": "standard", "properties": properties, "position": "0"}],
        )
    )
    data.update(formset("entitlements", []))
    data.update(overrides)
    return data


def url(model, view, *args):
    return reverse(f"admin:catalog_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", CATALOG_MODELS)
def test_changelist_search_add_and_change_pages(admin_client, catalog, model):
    assert admin_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "add")).status_code == 200
    obj = model.objects.first()
    if obj is not None:
        assert admin_client.get(url(model, "change", obj.pk)).status_code == 200


def test_all_catalog_models_are_registered():
    names = {m.__name__ for m in CATALOG_MODELS}
    assert names == {"Product", "BillableMetric", "Plan", "Feature", "AddOn", "ServiceLevel"}


def test_add_plan_with_charge_normalizes_properties(admin_client, catalog):
    response = admin_client.post(
        url(Plan, "add"), plan_form(catalog["metric"], '{"unit_amount": "0.0020"}')
    )
    assert response.status_code == 302, response.context["errors"]
    plan = Plan.objects.get(code="pro")
    assert (plan.version, plan.is_latest, plan.amount) == (1, True, Decimal("49.00"))
    assert plan.charges.get().properties == {"unit_amount": "0.002"}


def test_add_plan_with_invalid_charge_properties_saves_nothing(admin_client, catalog):
    plans, charges = Plan.objects.count(), Charge.objects.count()
    response = admin_client.post(
        url(Plan, "add"), plan_form(catalog["metric"], '{"unit_amount": 0.5}')
    )
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert "unit_amount" in errors["properties"][0]
    assert "decimal strings" in response.content.decode()
    assert (Plan.objects.count(), Charge.objects.count()) == (plans, charges)


def test_unknown_property_is_reported_on_properties(admin_client, catalog):
    response = admin_client.post(url(Plan, "add"), plan_form(catalog["metric"], '{"price": "1"}'))
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[0]
    assert errors["properties"] == [
        "price: Unknown property 'price' for a standard charge; allowed: unit_amount."
    ]
    assert not Plan.objects.filter(code="pro").exists()


def test_add_plan_with_existing_code_is_refused(admin_client, catalog):
    response = admin_client.post(
        url(Plan, "add"), plan_form(catalog["metric"], '{"unit_amount": "1"}', code="basic")
    )
    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert Plan.objects.filter(code="basic").count() == 1


def test_plan_not_in_use_edits_terms_in_place(admin_client, catalog):
    plan = catalog["plan"]
    admin_view = PlanAdmin(Plan, admin.site)
    assert not set(services.PLAN_TERMS) & set(admin_view.get_readonly_fields(None, plan))
    data = plan_form(catalog["metric"], '{"unit_amount": "1"}', code="basic", amount="12.00")
    response = admin_client.post(url(Plan, "change", plan.pk), data)
    assert response.status_code == 302, response.context["errors"]
    plan.refresh_from_db()
    assert (plan.amount, plan.version, plan.charges.count()) == (Decimal("12.00"), 1, 1)


def test_plan_in_use_locks_terms_and_inlines(admin_client, catalog, monkeypatch, rf, admin_user):
    monkeypatch.setattr(services, "plan_in_use", lambda plan: True)
    plan = catalog["plan"]
    request = rf.get("/")
    request.user = admin_user
    admin_view = PlanAdmin(Plan, admin.site)
    assert set(services.PLAN_TERMS) <= set(admin_view.get_readonly_fields(request, plan))
    for inline in (ChargeInline, PlanEntitlementInline):
        view = inline(Plan, admin.site)
        assert not view.has_add_permission(request, plan)
        assert not view.has_change_permission(request, plan)
        assert not view.has_delete_permission(request, plan)
        assert view.has_view_permission(request, plan)
    # A new plan is never locked.
    assert not set(services.PLAN_TERMS) & set(admin_view.get_readonly_fields(request, None))

    page = admin_client.get(url(Plan, "change", plan.pk))
    assert "go through a new version" in page.content.decode()
    data = plan_form(catalog["metric"], '{"unit_amount": "1"}', amount="99.00", name="Renamed")
    response = admin_client.post(url(Plan, "change", plan.pk), data)
    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.name, plan.amount, plan.charges.count()) == ("Renamed", Decimal("10.00"), 0)


def test_replaced_version_is_locked(admin_client, catalog):
    plan = catalog["plan"]
    Plan.objects.filter(pk=plan.pk).update(is_latest=False)
    admin_view = PlanAdmin(Plan, admin.site)
    plan.refresh_from_db()
    assert set(services.PLAN_TERMS) <= set(admin_view.get_readonly_fields(None, plan))


def test_archive_action_archives_every_version(admin_client, catalog):
    plan = catalog["plan"]
    response = admin_client.post(
        url(Plan, "changelist"), {"action": "archive_selected", "_selected_action": [plan.pk]}
    )
    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.status == PlanStatus.ARCHIVED


def test_entitlement_inline_checks_feature_kind(admin_client, catalog):
    sso = Feature.objects.get(code="sso")
    data = plan_form(catalog["metric"], '{"unit_amount": "1"}')
    data.update(formset("entitlements", [{"feature": sso.pk, "enabled": "on", "limit": "5"}]))
    response = admin_client.post(url(Plan, "add"), data)
    assert response.status_code == 200
    assert "limit" in response.context["inline_admin_formsets"][1].formset.errors[0]
    assert not Entitlement.objects.exists()


def test_codes_and_meanings_are_fixed_after_creation(admin_client, catalog):
    metric = catalog["metric"]
    response = admin_client.post(
        url(type(metric), "change", metric.pk),
        {
            "code": "renamed",
            "name": "Calls",
            "description": "",
            "aggregation": "sum",
            "field": "x",
            "archived_at": "",
        },
    )
    assert response.status_code == 302, response.context["errors"]
    metric.refresh_from_db()
    assert (metric.code, metric.name, metric.aggregation) == ("api_calls", "Calls", "count")


def test_product_page_lists_its_plans_with_links(admin_client, catalog):
    product, plan = catalog["product"], catalog["plan"]
    page = admin_client.get(url(type(product), "change", product.pk)).content.decode()
    assert url(Plan, "change", plan.pk) in page
