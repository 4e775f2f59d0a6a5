import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse

from reports.staff_groups import STAFF_GROUPS, sync_staff_groups

pytestmark = pytest.mark.django_db


def codes(group_name):
    group = Group.objects.get(name=group_name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_groups_exist_after_migrations():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "finance",
        "operations",
        "support",
        "read-only",
    }
    for name in STAFF_GROUPS:
        assert codes(name), name


def test_read_only_views_everything_and_nothing_else():
    perms = codes("read-only")
    assert all(code.split(".")[1].startswith("view_") for code in perms)
    for code in (
        "customers.view_customer",
        "catalog.view_plan",
        "billing.view_billingevent",
        "api.view_idempotencyrecord",
    ):
        assert code in perms
    # dj-stripe's models are for superusers only (config/admin_site.py hides them too).
    assert not any(code.startswith(("auth.", "django_q.", "djstripe.")) for code in perms)


@pytest.mark.parametrize(
    ("group", "allowed", "refused"),
    [
        (
            "support",
            ["customers.change_customer", "customers.add_contact"],
            ["catalog.change_plan", "billing.add_billingevent"],
        ),
        (
            "operations",
            ["catalog.change_plan", "catalog.add_charge", "customers.change_customer"],
            ["billing.change_billingevent"],
        ),
        (
            "finance",
            ["billing.change_billingevent", "customers.change_customer"],
            ["catalog.change_plan", "catalog.add_product"],
        ),
    ],
)
def test_group_permissions(group, allowed, refused):
    perms = codes(group)
    assert codes("read-only") <= perms
    assert set(allowed) <= perms
    assert not set(refused) & perms


def test_nobody_deletes_or_manages_api_keys():
    for name in STAFF_GROUPS:
        perms = codes(name)
        assert not any(".delete_" in code for code in perms), name
        assert not any(code.endswith("apikey") for code in perms), name
        assert not any(code.startswith(("api.add_", "api.change_")) for code in perms), name


def test_sync_restores_the_policy_and_the_command_reports_counts(capsys):
    support = Group.objects.get(name="support")
    stray = Permission.objects.get(content_type__app_label="catalog", codename="delete_plan")
    support.permissions.add(stray)
    support.permissions.remove(
        Permission.objects.get(codename="change_customer", content_type__app_label="customers")
    )
    counts = sync_staff_groups()
    assert "customers.change_customer" in codes("support")
    assert "catalog.delete_plan" not in codes("support")
    assert counts["support"] == support.permissions.count()

    call_command("sync_staff_groups")
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{name}: {counts[name]} permissions" for name in STAFF_GROUPS]


def test_support_staff_in_the_admin(client):
    user = get_user_model().objects.create_user("sam", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="support"))
    client.force_login(user)
    assert client.get(reverse("admin:customers_customer_changelist")).status_code == 200
    assert client.get(reverse("admin:customers_customer_add")).status_code == 200
    assert client.get(reverse("admin:catalog_plan_changelist")).status_code == 200
    assert client.get(reverse("admin:catalog_plan_add")).status_code == 403
    assert client.get(reverse("admin:api_apikey_changelist")).status_code == 403
    assert client.get(reverse("admin:billing_billingevent_changelist")).status_code == 200
