"""A demo data set: 3 products, 6 plans (every pricing model, USD and EUR), 20 customers.

Idempotent: what exists already (by code / external_id) is left as it is. It sits in the
top app because the demo will grow to use every app (subscriptions, portal users).
"""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from billing.invoicing.services.subscription_billing import subscription_create
from billing.models import Subscription
from billing.payments.services.methods import payment_method_attach
from billing.tax.models import TaxRegistration
from billing.tax.services import tax_registration_create, tax_settings_update
from billing.usage.services import usage_events_ingest
from catalog import services as catalog
from catalog.models import AddOn, BillableMetric, Feature, Plan, Product, ServiceLevel
from customers import services as customers
from customers.models import Customer
from provisioning.services.orders import orders_run_due
from provisioning.services.sync import billing_events_consume

HELD_EMAIL = "django.core.mail.backends.locmem.EmailBackend"
DEMO_OWNER_PASSWORD = "demo-owner-pass"  # noqa: S105 - published demo login
METRICS = [
    ("api_calls", "API calls", "count", ""),
    ("storage_gb", "Storage (GB, peak)", "max", "gb"),
    ("emails_sent", "Emails sent", "count", ""),
    ("payment_volume", "Payment volume", "sum", "amount"),
    ("active_users", "Active users", "unique_count", "user_id"),
]
FEATURES = [
    ("sso", "Single sign-on", "boolean", None),
    ("priority_support", "Priority support", "boolean", None),
    ("api_calls_quota", "API calls per period", "quota", "api_calls"),
    ("storage_quota", "Storage (GB)", "quota", "storage_gb"),
    ("seats", "Seats", "seats", None),
]
PRODUCTS = [
    ("cloud-api", "Cloud API", "Metered API access."),
    ("team-suite", "Team Suite", "Collaboration software, licensed per seat."),
    ("paygate", "PayGate", "Payment processing, priced per transaction."),
]
PLANS = [
    # Flat fee.
    {
        "product": "cloud-api",
        "code": "api-starter",
        "name": "API Starter",
        "currency": "USD",
        "amount": "29.00",
        "entitlements": [("api_calls_quota", 100_000), ("sso", False)],
    },
    # Flat fee plus graduated usage.
    {
        "product": "cloud-api",
        "code": "api-growth",
        "name": "API Growth",
        "currency": "USD",
        "amount": "99.00",
        "service_level": "business",
        "entitlements": [("api_calls_quota", None), ("sso", True)],
        "charges": [
            (
                "api_calls",
                "graduated",
                {
                    "tiers": [
                        {"up_to": 100_000, "unit_amount": "0", "flat_amount": "0"},
                        {"up_to": 1_000_000, "unit_amount": "0.0004", "flat_amount": "0"},
                        {"up_to": None, "unit_amount": "0.0002", "flat_amount": "25"},
                    ]
                },
            )
        ],
    },
    # Per seat (quantity), with volume-priced storage.
    {
        "product": "team-suite",
        "code": "team-monthly",
        "name": "Team (monthly)",
        "currency": "EUR",
        "amount": "12.00",
        "trial_days": 14,
        # A seats limit is per unit bought: 1, so quantity 5 is 5 seats.
        "entitlements": [("seats", 1), ("storage_quota", 1000), ("priority_support", False)],
        "charges": [
            (
                "storage_gb",
                "volume",
                {
                    "tiers": [
                        {"up_to": 100, "unit_amount": "0.10", "flat_amount": "0"},
                        {"up_to": 1000, "unit_amount": "0.08", "flat_amount": "0"},
                        {"up_to": None, "unit_amount": "0.05", "flat_amount": "0"},
                    ]
                },
            )
        ],
    },
    # Per seat, yearly, with packaged e-mails.
    {
        "product": "team-suite",
        "code": "team-annual",
        "name": "Team (annual)",
        "currency": "EUR",
        "amount": "120.00",
        "interval": "year",
        "entitlements": [("seats", None), ("storage_quota", None), ("priority_support", True)],
        "charges": [
            ("emails_sent", "package", {"package_size": 1000, "amount": "2.00", "free_units": 5000})
        ],
    },
    # Percentage of payment volume, billed in arrears.
    {
        "product": "paygate",
        "code": "paygate-standard",
        "name": "PayGate Standard",
        "currency": "USD",
        "amount": "0",
        "pay_in_advance": False,
        "charges": [("payment_volume", "percentage", {"rate": "2.9", "fixed_amount": "0.30"})],
    },
    {
        "product": "paygate",
        "code": "paygate-eu",
        "name": "PayGate Europe",
        "currency": "EUR",
        "amount": "9.00",
        "pay_in_advance": False,
        "charges": [
            (
                "payment_volume",
                "percentage",
                {
                    "rate": "1.4",
                    "fixed_amount": "0.25",
                    "free_events": 100,
                    "per_event_min": "0.30",
                    "per_event_max": "50",
                },
            )
        ],
    },
]
ADDONS = [
    ("extra-storage", "Extra storage pack", "EUR", "15.00", "month", [("storage_quota", 500)]),
    ("onboarding", "Guided onboarding", "USD", "499.00", "one_time", []),
    ("sso-addon", "SSO add-on", "USD", "20.00", "month", [("sso", True)]),
]
SELLER_REGISTRATIONS = [  # country, region, number (demo values)
    ("IE", "", "IE6388047V"),
    ("GB", "", "GB980780684"),
    ("US", "NY", "NY-DEMO-1"),
    ("US", "TX", "TX-DEMO-1"),
]
VAT_NUMBERS = {"wonka": "FR40303265045", "soylent": "DE136695976"}  # valid check digits
CUSTOMERS = [  # external_id, name, country, timezone, currency, city
    ("acme", "Acme Corporation", "US", "America/New_York", "USD", "New York"),
    ("globex", "Globex Inc.", "US", "America/Los_Angeles", "USD", "San Francisco"),
    ("initech", "Initech LLC", "US", "America/Chicago", "USD", "Austin"),
    ("umbrella", "Umbrella Labs", "GB", "Europe/London", "EUR", "London"),
    ("hooli", "Hooli", "US", "America/Los_Angeles", "USD", "Palo Alto"),
    ("piedpiper", "Pied Piper", "US", "America/Los_Angeles", "USD", "Palo Alto"),
    ("stark", "Stark Industries", "US", "America/New_York", "USD", "New York"),
    ("wayne", "Wayne Enterprises", "US", "America/New_York", "USD", "Gotham"),
    ("tyrell", "Tyrell Corp.", "US", "America/Los_Angeles", "USD", "Los Angeles"),
    ("cyberdyne", "Cyberdyne Systems", "US", "America/Denver", "USD", "Denver"),
    ("soylent", "Soylent GmbH", "DE", "Europe/Berlin", "EUR", "Berlin"),
    ("vandelay", "Vandelay Industries", "NL", "Europe/Amsterdam", "EUR", "Amsterdam"),
    ("wonka", "Wonka Chocolate SAS", "FR", "Europe/Paris", "EUR", "Paris"),
    ("gringotts", "Gringotts Bank", "IE", "Europe/Dublin", "EUR", "Dublin"),
    ("oscorp", "Oscorp SpA", "IT", "Europe/Rome", "EUR", "Milan"),
    ("aperture", "Aperture Science Oy", "FI", "Europe/Helsinki", "EUR", "Helsinki"),
    ("nakatomi", "Nakatomi Trading", "ES", "Europe/Madrid", "EUR", "Madrid"),
    ("monsters", "Monsters AB", "SE", "Europe/Stockholm", "EUR", "Stockholm"),
    ("massive", "Massive Dynamic", "US", "America/New_York", "USD", "New York"),
    ("dunder", "Dunder Mifflin", "US", "America/New_York", "USD", "Scranton"),
]


DEMO_CARDS = {"massive": "tok_visa", "dunder": "tok_chargeDeclinedInsufficientFunds"}
# external_id → (plan, quantity, API calls used): started 10 days ago; massive's card pays,
# dunder's declines (once the worker charges it, its new subscription is incomplete: no access
# until paid, expired after SUBSCRIPTION_INCOMPLETE_HOURS), soylent is in its trial, acme has
# no card (invoice open).
DEMO_SUBSCRIPTIONS = {
    "massive": ("api-growth", 1, 900),
    "dunder": ("api-starter", 1, 300),
    "acme": ("api-starter", 1, 600),
    "soylent": ("team-monthly", 5, 0),
}


def base_url(host: str) -> str:
    """runserver's addrport → the URL to open: "8080" → http://127.0.0.1:8080, "0.0.0.0:80"
    → http://127.0.0.1:80 (any address: this machine), "[::]:8000" → http://[::1]:8000."""
    host = host.strip() or "127.0.0.1:8000"
    if host.isdigit():
        host = f"127.0.0.1:{host}"
    address, _, port = host.rpartition(":")
    if not address:
        address, port = port, "8000"
    address = {"0.0.0.0": "127.0.0.1", "0": "127.0.0.1", "[::]": "[::1]"}.get(address, address)  # noqa: S104
    return f"http://{address}:{port}"


def emails_destination() -> str:
    """Where the server's emails go, said without credentials."""
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if backend == "filebased":
        return f"written as files to {Path(settings.EMAIL_FILE_PATH).resolve()}/"
    if backend == "console":
        return "printed by the worker on this terminal"
    return f"sent through the {backend} backend ({settings.EMAIL_HOST or 'no host'})"


class Command(BaseCommand):
    help = "Load the demo catalog, customers and an admin user (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--host",
            default="127.0.0.1:8000",
            help="Where the server listens (runserver's addrport, as `make run HOST=`): the "
            "printed links point there.",
        )

    def handle(self, *args, **options):
        self.base_url = base_url(options["host"])
        self.emails = emails_destination()  # the server's, before the seed holds its own
        # The demo customers' welcome and key emails are kept, not printed over the output.
        with override_settings(EMAIL_BACKEND=HELD_EMAIL), transaction.atomic():
            self._seed()

    def _tax(self):
        """The demo seller: an Irish company under OSS, also registered in the UK, New York
        and Texas; two EU business customers with VAT numbers are reverse-charged."""
        if TaxRegistration.objects.exists():
            return
        at = timezone.now()
        tax_settings_update(
            at=at,
            legal_name="Example Billing Ltd",
            address="1 Example Street\nDublin D02 X285\nIreland",
            email="billing@example.com",
            seller_country="IE",
        )
        for country, region, number in SELLER_REGISTRATIONS:
            tax_registration_create(country=country, region=region, number=number, at=at)

    def _seed(self):
        self._tax()
        metrics = {m.code: m for m in BillableMetric.objects.all()}
        for code, name, aggregation, field in METRICS:
            if code not in metrics:
                metrics[code] = catalog.metric_create(
                    code=code, name=name, aggregation=aggregation, field=field
                )
        features = {f.code: f for f in Feature.objects.all()}
        for code, name, kind, metric in FEATURES:
            if code not in features:
                features[code] = catalog.feature_create(
                    code=code, name=name, kind=kind, metric=metrics.get(metric)
                )
        products = {p.code: p for p in Product.objects.all()}
        for code, name, description in PRODUCTS:
            if code not in products:
                products[code] = catalog.product_create(
                    code=code, name=name, description=description
                )
        level = ServiceLevel.objects.filter(
            code="business"
        ).first() or catalog.service_level_create(
            code="business",
            name="Business SLA",
            uptime_target=Decimal("99.9"),
            response_time="4 business hours",
            credit_tiers=[
                {"below": "99.9", "credit_percent": "10"},
                {"below": "99", "credit_percent": "25"},
                {"below": "95", "credit_percent": "50"},
            ],
        )
        for spec in PLANS:
            if Plan.objects.filter(code=spec["code"]).exists():
                continue
            spec = dict(spec)
            if spec.pop("service_level", None):
                spec["service_level"] = level
            catalog.plan_create(
                product=products[spec.pop("product")],
                amount=Decimal(spec.pop("amount")),
                charges=[
                    {"metric": metrics[m], "model": model, "properties": props}
                    for m, model, props in spec.pop("charges", [])
                ],
                entitlements=[
                    {"feature": features[f], "value": v} for f, v in spec.pop("entitlements", [])
                ],
                **spec,
            )
        for code, name, currency, amount, interval, grants in ADDONS:
            if not AddOn.objects.filter(code=code).exists():
                catalog.addon_create(
                    code=code,
                    name=name,
                    currency=currency,
                    amount=Decimal(amount),
                    interval=interval,
                    entitlements=[{"feature": features[f], "value": v} for f, v in grants],
                )
        existing = set(Customer.objects.values_list("external_id", flat=True))
        for external_id, name, country, tz, currency, city in CUSTOMERS:
            if external_id in existing:
                continue
            customer = customers.customer_create(
                external_id=external_id,
                name=name,
                email=f"billing@{external_id}.example",
                currency=currency,
                timezone=tz,
                country=country,
                tax_id=VAT_NUMBERS.get(external_id, ""),
                address={
                    "line1": "1 Main Street",
                    "city": city,
                    "postal_code": "10001",
                    "country": country,
                },
            )
            customers.customer_user_add(
                customer=customer,
                email=f"owner@{external_id}.example",
                role="owner",
                password=DEMO_OWNER_PASSWORD,
            )
            if external_id in DEMO_CARDS:  # sandbox test cards: one that pays, one that declines
                payment_method_attach(
                    customer=customer,
                    gateway="sandbox",
                    token=DEMO_CARDS[external_id],
                    make_default=True,
                    at=timezone.now(),
                )
        self._subscriptions()
        self._admin()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data: {Product.objects.count()} products, {Plan.objects.count()} plans, "
                f"{AddOn.objects.count()} add-ons, {Customer.objects.count()} customers."
            )
        )

    def _subscriptions(self):
        """The demo subscriptions and their usage (customers without one only), provisioned
        at once: the billing events are consumed and the orders run here."""
        now = timezone.now()
        start = now - timedelta(days=10)
        for external_id, (plan_code, quantity, calls) in DEMO_SUBSCRIPTIONS.items():
            customer = Customer.objects.get(external_id=external_id)
            if Subscription.objects.filter(customer=customer).exists():
                continue
            plan = Plan.objects.get(code=plan_code, is_latest=True)
            sub = subscription_create(
                customer=customer, plan=plan, at=now, start_at=start, quantity=quantity
            )
            events = [
                {
                    "transaction_id": f"demo-{external_id}-{n}",
                    "subscription": str(sub.pk),
                    "code": "api_calls",
                    "timestamp": (now - timedelta(minutes=n % 600)).isoformat(),
                }
                for n in range(calls)
            ]
            if events:
                usage_events_ingest(events=events, at=now)
        billing_events_consume(at=now)
        orders_run_due(at=now)

    def _admin(self):
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin-demo-pass")
        user_model = get_user_model()
        if not user_model.objects.filter(username=username).exists():
            user_model.objects.create_superuser(username, f"{username}@example.com", password)
            self.stdout.write(f"Admin login: {username} / {password} at {self.base_url}/admin/")
        else:
            self.stdout.write(
                f"Admin login: {username} (password as first set; demo default "
                f"{password}) at {self.base_url}/admin/"
            )
        self.stdout.write(
            f"Portal demo users: owner@<customer>.example / {DEMO_OWNER_PASSWORD} at "
            f"{self.base_url}/portal/ (API docs: {self.base_url}/api/docs/)"
        )
        self.stdout.write(f"Emails: {self.emails}")
