"""The operations console's admin site: its index (and side bar) grouped by job, not by app.

`SECTIONS` is the one map from a registered model to its group, in the order staff see them.
A model is placed by its label ("billing.invoice"), else by its app's label (so a model a
later change adds to one of our apps lands in that app's usual group); a model in neither
would be listed under "Other" (reports/tests/test_admin_index.py checks none is). dj-stripe's
models (about fifty Stripe mirrors) are shown to superusers only, under one group.

The app index pages (/admin/billing/, the breadcrumbs' middle link) stay Django's, by app; a
group has its own page, /admin/section/<slug>/.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import slugify

# (group, [model labels or app labels, in the order shown]); the first entry that names a
# model's label wins, then the first that names its app.
SECTIONS: list[tuple[str, list[str]]] = [
    (
        "Billing",
        [
            "billing.subscription",
            "billing.invoice",
            "billing.creditnote",
            "billing.billrun",
            "billing.coupon",
            "billing.discount",
            "billing.balancetransaction",
            "billing.slacredit",
            "billing.usageaggregate",
            "billing.usageevent",
            "billing.usagealert",
            "billing.billingevent",
        ],
    ),
    ("Revenue", ["reports.journalentry", "reports.monthclose", "reports.ledgeraccount"]),
    (
        "Payments",
        [
            "billing.payment",
            "billing.refund",
            "billing.banktransfer",
            "billing.paymentmethod",
            "billing.dunningcase",
            "billing.dunningcampaign",
        ],
    ),
    (
        "Provisioning",
        [
            "provisioning.order",
            "provisioning.fulfillmentstep",
            "provisioning.customeraccess",
            "provisioning.provisionedentitlement",
            "provisioning.entitlementoverride",
            "provisioning.seatassignment",
            "provisioning.servicekey",
            "provisioning.webhookendpoint",
            "provisioning.webhookdelivery",
            "provisioning.driftauditrun",
            "provisioning.driftfinding",
            "provisioning.workflow",
        ],
    ),
    ("Customers", ["customers.customer", "billing.customervatnumber"]),
    (
        "Settings",
        [
            "catalog.product",
            "catalog.plan",
            "catalog.addon",
            "catalog.billablemetric",
            "catalog.feature",
            "catalog.servicelevel",
            "billing.taxsettings",
            "billing.taxregistration",
            "billing.taxrateoverride",
            "billing.invoicenumbersequence",
            "billing.gateway",
            "billing.routingrule",
            "api.apikey",
            "auth.user",
            "auth.group",
        ],
    ),
    (
        "System",
        [
            "django_q.failure",
            "django_q.ormq",
            "django_q.schedule",
            "django_q.success",
            "axes.accessattempt",
            "axes.accessfailurelog",
            "axes.accesslog",
            "api.idempotencyrecord",
            "reports.eventcursor",
        ],
    ),
    # Where a model not named above goes: its app's usual group.
    ("Billing", ["billing"]),
    ("Revenue", ["reports"]),
    ("Provisioning", ["provisioning"]),
    ("Customers", ["customers"]),
    ("Settings", ["catalog", "api", "auth"]),
    ("System", ["django_q", "axes"]),
    ("Stripe (dj-stripe)", ["djstripe"]),
]
OTHER = "Other"
# Apps whose models only superusers see (the index, the side bar, the app page).
SUPERUSER_ONLY_APPS = {"djstripe"}


def _group_order() -> list[str]:
    names = []
    for name, _ in SECTIONS:
        if name not in names:
            names.append(name)
    return [*names, OTHER]


GROUP_ORDER = _group_order()
_RANK = {
    entry: (name, position)
    for name, entries in reversed(SECTIONS)
    for position, entry in reversed(list(enumerate(entries)))
}


def section_of(label_lower: str) -> tuple[str, int]:
    """(group, position in it) of a model label such as "billing.invoice"."""
    app_label = label_lower.partition(".")[0]
    if label_lower in _RANK:
        return _RANK[label_lower]
    if app_label in _RANK:
        return _RANK[app_label][0], 1000
    return OTHER, 1000


class StaffAdminSite(admin.AdminSite):
    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if not request.user.is_superuser:
            apps = [app for app in apps if app["app_label"] not in SUPERUSER_ONLY_APPS]
        if app_label:
            return apps  # an app's own page (/admin/billing/): by app, as Django does
        return self.grouped(apps)

    def grouped(self, apps: list[dict]) -> list[dict]:
        """Django's app list regrouped by `SECTIONS`: one entry per group (in `GROUP_ORDER`)
        with the keys the admin's templates read; empty groups left out."""
        members: dict[str, list[tuple[int, str, dict]]] = {name: [] for name in GROUP_ORDER}
        for app in apps:
            for model in app["models"]:
                label = model["model"]._meta.label_lower
                group, position = section_of(label)
                members[group].append((position, str(model["name"]), model))
        result = []
        for name in GROUP_ORDER:
            if not members[name]:
                continue
            slug = slugify(name)
            result.append(
                {
                    "name": name,
                    "app_label": slug,
                    "app_url": reverse("admin:section", args=[slug], current_app=self.name),
                    "has_module_perms": True,
                    "models": [model for *_, model in sorted(members[name], key=_by_rank)],
                }
            )
        return result

    def get_urls(self):
        section = path("section/<slug:slug>/", self.admin_view(self.section_view), name="section")
        return [section, *super().get_urls()]

    def section_view(self, request, slug: str):
        """One group's models, in the app index page's layout."""
        found = [group for group in self.get_app_list(request) if group["app_label"] == slug]
        if not found:
            raise Http404("No such section, or nothing in it you may see.")
        context = {
            **self.each_context(request),
            "title": found[0]["name"],
            "subtitle": None,
            "app_list": found,
            "app_label": slug,
        }
        request.current_app = self.name
        return TemplateResponse(request, "admin/app_index.html", context)


def _by_rank(member: tuple[int, str, dict]) -> tuple[int, str]:
    return member[0], member[1]


class StaffAdminConfig(AdminConfig):
    """django.contrib.admin with `StaffAdminSite` as `admin.site` (INSTALLED_APPS)."""

    default_site = "config.admin_site.StaffAdminSite"
