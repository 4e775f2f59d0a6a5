"""The built-in payment gateways and the default dunning campaign, created by migration 0010
(and again by tests after a database flush)."""

GATEWAYS = [
    # code, name, adapter, vault, priority, method kinds
    ("sandbox", "Sandbox", "sandbox", "sandbox", 10, ["card", "us_bank_account", "sepa_debit"]),
    ("stripe", "Stripe", "stripe", "stripe", 20, ["card", "us_bank_account", "sepa_debit"]),
    ("bank_transfer", "Bank transfer", "bank_transfer", "bank_transfer", 90, ["bank_transfer"]),
]
DEFAULT_CAMPAIGN = {
    "name": "Default: retry on days 1, 3, 5 and 7, then suspend",
    "is_default": True,
    "retry_days": [1, 3, 5, 7],
    "reminder_days_before_due": [3],
    "reminder_days_after_due": [1, 7],
    "final_action": "suspend",
    "final_action_after_days": 0,
}


def payment_defaults_ensure(apps=None) -> None:
    """Create what is missing; `apps` is a migration's registry, or None for the real one."""
    if apps is None:
        from django.apps import apps
    gateway = apps.get_model("billing", "Gateway")
    for code, name, adapter, vault, priority, kinds in GATEWAYS:
        gateway.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "adapter": adapter,
                "vault": vault,
                "priority": priority,
                "method_kinds": kinds,
            },
        )
    campaign = apps.get_model("billing", "DunningCampaign")
    if not campaign.objects.filter(is_default=True).exists():
        campaign.objects.get_or_create(code="default", defaults=DEFAULT_CAMPAIGN)
