import pytest

from catalog.models import Charge, Plan
from catalog.tests import factories

pytestmark = pytest.mark.django_db

GRADUATED = {
    "tiers": [
        {"up_to": 1000, "unit_amount": "0.01", "flat_amount": "0"},
        {"up_to": None, "unit_amount": "0.005", "flat_amount": "5"},
    ]
}


def plan_body(**overrides):
    body = {
        "code": "pro",
        "name": "Pro",
        "currency": "USD",
        "interval": "month",
        "interval_count": 1,
        "amount": "49.00",
        "pay_in_advance": True,
        "trial_days": 14,
        "charges": [{"metric": "api_calls", "model": "graduated", "properties": GRADUATED}],
        "entitlements": [{"feature": "sso", "value": True}, {"feature": "calls", "value": 10000}],
    }
    return {**body, **overrides}


@pytest.fixture
def catalog_ready(db):
    calls = factories.metric("api_calls")
    factories.feature("sso")
    factories.feature("calls", kind="quota", metric=calls)


def test_metric_create_and_get_by_code(api):
    response = api.post(
        "/api/v1/metrics/",
        {"code": "gb", "name": "GB", "aggregation": "sum", "field": "bytes"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["aggregation"] == "sum"
    by_code = api.get("/api/v1/metrics/gb/").json()
    by_id = api.get(f"/api/v1/metrics/{response.json()['id']}/").json()
    assert by_code == by_id == response.json()


def test_metric_sum_without_field_is_400(api):
    response = api.post(
        "/api/v1/metrics/", {"code": "gb", "name": "GB", "aggregation": "sum"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "field"


def test_quota_feature_needs_metric(api):
    response = api.post(
        "/api/v1/features/", {"code": "q", "name": "Q", "kind": "quota"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "metric"


def test_plan_create_round_trip(api, catalog_ready):
    response = api.post("/api/v1/plans/", plan_body(), format="json")
    assert response.status_code == 201, response.json()
    plan = response.json()
    assert plan["amount"] == "49.00"
    assert plan["version"] == 1
    assert plan["charges"][0]["metric"] == "api_calls"
    assert plan["charges"][0]["properties"]["tiers"][1]["up_to"] is None
    assert {e["feature"]: e["value"] for e in plan["entitlements"]} == {"sso": True, "calls": 10000}
    assert api.get("/api/v1/plans/pro/").json() == plan


def test_plan_amount_in_currency_precision(api, catalog_ready):
    jpy = api.post(
        "/api/v1/plans/",
        plan_body(code="jp", currency="JPY", amount="4900", charges=[]),
        format="json",
    )
    kwd = api.post(
        "/api/v1/plans/",
        plan_body(code="kw", currency="KWD", amount="12.5", charges=[]),
        format="json",
    )
    assert jpy.json()["amount"] == "4900"
    assert kwd.json()["amount"] == "12.500"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"currency": "EURO"}, "currency", "invalid_currency"),
        ({"currency": "ABC"}, "currency", "invalid_currency"),
        ({"amount": "-1"}, "amount", "min_value"),
        ({"amount": "1.23456"}, "amount", "too_many_decimal_places"),
        ({"interval": "fortnight"}, "interval", "invalid_choice"),
        ({"interval_count": 0}, "interval_count", "min_value"),
        ({"trial_days": -1}, "trial_days", "min_value"),
        ({"code": "has space"}, "code", "invalid_code"),
        (
            {"charges": [{"metric": "nope", "model": "standard", "properties": {}}]},
            "charges.0.metric",
            "does_not_exist",
        ),
        (
            {"charges": [{"metric": "api_calls", "model": "magic", "properties": {}}]},
            "charges.0.model",
            "invalid_choice",
        ),
        (
            {"charges": [{"metric": "api_calls", "model": "standard", "properties": {}}]},
            "charges.0.properties.unit_amount",
            "required",
        ),
        (
            {
                "charges": [
                    {
                        "metric": "api_calls",
                        "model": "graduated",
                        "properties": {
                            "tiers": [
                                {"up_to": 10, "unit_amount": "1"},
                                {"up_to": 5, "unit_amount": "1"},
                                {"up_to": None, "unit_amount": "1"},
                            ]
                        },
                    }
                ]
            },
            "charges.0.properties.tiers.1.up_to",
            "tiers_not_ascending",
        ),
        (
            {
                "charges": [
                    {
                        "metric": "api_calls",
                        "model": "volume",
                        "properties": {"tiers": [{"up_to": 10, "unit_amount": "1"}]},
                    }
                ]
            },
            "charges.0.properties.tiers.0.up_to",
            "last_tier_not_open",
        ),
        (
            {"entitlements": [{"feature": "sso", "value": 3}]},
            "entitlements.0.value",
            "invalid_value",
        ),
        (
            {"entitlements": [{"feature": "calls", "value": -3}]},
            "entitlements.0.value",
            "invalid_value",
        ),
        (
            {
                "entitlements": [
                    {"feature": "sso", "value": True},
                    {"feature": "sso", "value": False},
                ]
            },
            "entitlements.1.feature",
            "duplicate",
        ),
    ],
)
def test_plan_validation_errors_write_nothing(api, catalog_ready, change, field, code):
    response = api.post("/api/v1/plans/", plan_body(**change), format="json")
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert (error["type"], error["field"], error["code"]) == ("invalid_request", field, code)
    assert error["message"]
    assert not Plan.objects.exists()
    assert not Charge.objects.exists()


def test_duplicate_plan_code_is_400(api, catalog_ready):
    assert api.post("/api/v1/plans/", plan_body(), format="json").status_code == 201
    response = api.post("/api/v1/plans/", plan_body(), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "code"


def test_plan_update_in_place_when_unused(api, catalog_ready):
    api.post("/api/v1/plans/", plan_body(), format="json")
    response = api.patch("/api/v1/plans/pro/", {"amount": "59.00"}, format="json")
    assert response.status_code == 200
    assert (response.json()["version"], response.json()["amount"]) == (1, "59.00")
    assert Plan.objects.count() == 1


def test_plan_in_use_gets_a_new_version(api, catalog_ready, monkeypatch):
    api.post("/api/v1/plans/", plan_body(), format="json")
    monkeypatch.setattr("catalog.services.plan_in_use", lambda plan: True)
    response = api.patch("/api/v1/plans/pro/", {"amount": "59.00"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["amount"], body["is_latest"]) == (2, "59.00", True)
    assert len(body["charges"]) == 1
    assert len(body["entitlements"]) == 2
    old = Plan.objects.get(code="pro", version=1)
    assert (old.amount, old.is_latest) == (49, False)
    assert api.get("/api/v1/plans/pro/").json()["version"] == 2
    assert api.get(f"/api/v1/plans/{old.pk}/").json()["amount"] == "49.00"
    listed = api.get("/api/v1/plans/").json()["results"]
    assert [p["version"] for p in listed] == [2]
    assert len(api.get("/api/v1/plans/?all_versions=true").json()["results"]) == 2


def test_plan_in_use_rename_stays_in_place(api, catalog_ready, monkeypatch):
    api.post("/api/v1/plans/", plan_body(), format="json")
    monkeypatch.setattr("catalog.services.plan_in_use", lambda plan: True)
    response = api.patch("/api/v1/plans/pro/", {"name": "Pro+"}, format="json")
    assert (response.json()["version"], response.json()["name"]) == (1, "Pro+")


def test_plan_archive(api, catalog_ready):
    api.post("/api/v1/plans/", plan_body(), format="json")
    response = api.post("/api/v1/plans/pro/archive/")
    assert response.json()["status"] == "archived"
    assert api.get("/api/v1/plans/?status=active").json()["results"] == []


def test_addon_create_and_validation(api, catalog_ready):
    response = api.post(
        "/api/v1/addons/",
        {
            "code": "extra",
            "name": "Extra",
            "currency": "EUR",
            "amount": "5",
            "interval": "month",
            "entitlements": [{"feature": "calls", "value": 500}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "5.00"
    bad = api.post(
        "/api/v1/addons/",
        {"code": "x", "name": "X", "currency": "EUR", "amount": "5", "interval": "weekly"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "interval"
    frozen = api.patch("/api/v1/addons/extra/", {"amount": "6"}, format="json")
    assert frozen.status_code == 400
    assert frozen.json()["error"]["field"] == "amount"
    assert api.get("/api/v1/addons/extra/").json()["amount"] == "5.00"


def test_list_pagination_and_filters(api, catalog_ready):
    for index in range(5):
        factories.plan(code=f"p{index}", currency="EUR" if index % 2 else "USD")
    first = api.get("/api/v1/plans/?limit=2").json()
    assert [p["code"] for p in first["results"]] == ["p0", "p1"]
    second = api.get(f"/api/v1/plans/?limit=2&cursor={first['next_cursor']}").json()
    assert [p["code"] for p in second["results"]] == ["p2", "p3"]
    third = api.get(f"/api/v1/plans/?limit=2&cursor={second['next_cursor']}").json()
    assert [p["code"] for p in third["results"]] == ["p4"]
    assert third["next_cursor"] is None
    eur = api.get("/api/v1/plans/?currency=EUR").json()["results"]
    assert [p["code"] for p in eur] == ["p1", "p3"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "cursor=%%%",
        "cursor=Zm9vOmJhcg",
        "interval=fortnight",
        "all_versions=maybe",
    ],
)
def test_bad_list_parameters_are_400(api, query):
    response = api.get(f"/api/v1/plans/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


def test_unknown_object_and_url_are_404(api):
    for url in ["/api/v1/plans/nope/", "/api/v1/plans/999/", "/api/v1/nothing/"]:
        response = api.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "not_found"


def test_malformed_json_is_400(api):
    response = api.post("/api/v1/metrics/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_json_float_amounts_are_exact(api, catalog_ready):
    response = api.post(
        "/api/v1/plans/",
        data=(
            '{"code": "f", "name": "F", "currency": "USD", "amount": 0.1, "charges": [{"metric": '
            '"api_calls", "model": "standard", "properties": {"unit_amount": 0.0000125}}]}'
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == "0.10"
    assert response.json()["charges"][0]["properties"]["unit_amount"] == "0.0000125"
