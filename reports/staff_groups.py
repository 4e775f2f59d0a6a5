"""The staff permission policy, as data, and the function that applies it to auth groups.

Rules name app labels and actions, not single permissions, so models added later to the same
apps are covered when the policy is applied again (a migration or `manage.py
sync_staff_groups`). Nobody but superusers deletes anything or manages API keys.
"""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

OUR_APPS = ("api", "catalog", "customers", "billing", "provisioning", "reports")
# dj-stripe's models (Stripe's objects as mirrored) are not among them: superusers only, as in
# the admin index (config/admin_site.py). Our own payment pages show what staff need of Stripe.
VIEWABLE_APPS = OUR_APPS

# (app_label, model) whose permissions no group gets: API keys (ours and the Stripe keys
# dj-stripe keeps) are a superuser matter.
SUPERUSER_ONLY_MODELS = {("api", "apikey"), ("djstripe", "apikey")}

# group name -> action -> app labels whose models get the `<action>_<model>` permission.
STAFF_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    "read-only": {
        "view": VIEWABLE_APPS,
    },
    "support": {
        "view": VIEWABLE_APPS,
        "add": ("customers",),
        "change": ("customers",),
    },
    "operations": {
        "view": VIEWABLE_APPS,
        "add": ("catalog", "customers", "provisioning"),
        "change": ("catalog", "customers", "provisioning"),
    },
    "finance": {
        "view": VIEWABLE_APPS,
        "add": ("billing", "customers", "reports"),
        "change": ("billing", "customers", "reports"),
    },
}


def policy_allows(
    rules: dict[str, tuple[str, ...]], app_label: str, codename: str, model: str
) -> bool:
    if (app_label, model) in SUPERUSER_ONLY_MODELS:
        return False
    action, _, rest = codename.partition("_")
    if rest != model:  # only the default per-model permissions
        return False
    return app_label in rules.get(action, ())


def sync_staff_groups(apps=None, using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Create or update the staff groups to hold exactly the policy's existing permissions.

    `apps` is a migration's historical registry, or None for the real one. Returns the number
    of permissions per group.
    """
    if apps is None:
        apps = global_apps
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    permissions = list(
        permission_model.objects.using(using)
        .filter(content_type__app_label__in=VIEWABLE_APPS)
        .select_related("content_type")
    )
    counts = {}
    for name, rules in STAFF_GROUPS.items():
        granted = [
            p
            for p in permissions
            if policy_allows(rules, p.content_type.app_label, p.codename, p.content_type.model)
        ]
        group, _ = group_model.objects.using(using).get_or_create(name=name)
        group.permissions.set(granted)
        counts[name] = len(granted)
    return counts


def sync_staff_groups_migration(apps, schema_editor) -> None:
    """RunPython body for migrations that add models: create their permissions (historical
    app configs have no models module, which create_permissions requires), then re-apply."""
    from django.contrib.auth.management import create_permissions

    using = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    sync_staff_groups(apps, using=using)
