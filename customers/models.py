"""Customer accounts, their contacts and the people who log in for them."""

from django.conf import settings
from django.core.validators import EmailValidator
from django.db import models

from catalog.validators import (
    code_validator,
    validate_country,
    validate_currency,
    validate_timezone,
)


class TaxIdStatus(models.TextChoices):
    UNVERIFIED = "unverified", "Unverified"
    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    PENDING = "pending", "Pending (VIES check to be repeated)"


class TaxExempt(models.TextChoices):
    NONE = "none", "None"
    EXEMPT = "exempt", "Exempt"
    REVERSE = "reverse", "Reverse charge"


class InvoiceDelivery(models.TextChoices):
    EMAIL = "email", "Email (with the PDF) and the portal"
    PORTAL = "portal", "Portal only (no invoice email)"


class Customer(models.Model):
    external_id = models.CharField(
        max_length=100,
        unique=True,
        validators=[code_validator],
        help_text="The id this customer has in the business's own systems.",
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(validators=[EmailValidator()])
    currency = models.CharField(max_length=3, validators=[validate_currency])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    country = models.CharField(max_length=2, blank=True, validators=[validate_country])
    tax_id = models.CharField(
        max_length=64, blank=True, help_text="VAT/GST number, normalised (e.g. DE123456789)."
    )
    tax_id_status = models.CharField(
        max_length=12, choices=TaxIdStatus.choices, default=TaxIdStatus.UNVERIFIED
    )
    tax_id_checked_at = models.DateTimeField(null=True, blank=True)
    tax_id_evidence = models.JSONField(
        default=dict,
        blank=True,
        help_text="What the last check answered (source, registered name and address, "
        "request id, detail): the evidence kept for a reverse-charged sale.",
    )
    tax_exempt = models.CharField(max_length=10, choices=TaxExempt.choices, default=TaxExempt.NONE)
    address_line1 = models.CharField("address line 1", max_length=200, blank=True)
    address_line2 = models.CharField("address line 2", max_length=200, blank=True)
    address_city = models.CharField("city", max_length=100, blank=True)
    address_postal_code = models.CharField("postal code", max_length=20, blank=True)
    address_state = models.CharField("state / region", max_length=100, blank=True)
    address_country = models.CharField(
        "address country", max_length=2, blank=True, validators=[validate_country]
    )
    # Payment terms: invoices are due this many days after they are issued (empty: the
    # INVOICE_DUE_DAYS setting).
    payment_terms_days = models.PositiveSmallIntegerField(
        "payment terms (days)",
        null=True,
        blank=True,
        help_text="Invoices are due this many days after issue. Empty: the default terms.",
    )
    invoice_delivery = models.CharField(
        max_length=10, choices=InvoiceDelivery.choices, default=InvoiceDelivery.EMAIL
    )
    # Kinds of non-essential notices (customers/notices.py) this customer does not want.
    notices_opted_out = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class ContactRole(models.TextChoices):
    PRIMARY = "primary", "Primary"
    BILLING = "billing", "Billing"
    TECHNICAL = "technical", "Technical"


class Contact(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    role = models.CharField(max_length=20, choices=ContactRole.choices, default=ContactRole.BILLING)
    receives_invoices = models.BooleanField(default=True)

    class Meta:
        ordering = ["customer", "name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


class CustomerRole(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    BILLING = "billing", "Billing"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class CustomerUser(models.Model):
    """A Django user who acts for a customer (in the portal) with one role."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="users")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer_memberships"
    )
    role = models.CharField(
        max_length=10, choices=CustomerRole.choices, default=CustomerRole.MEMBER
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "customer user"
        ordering = ["customer", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "user"], name="customer_user_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.customer.external_id} ({self.role})"


class NoticeKind(models.TextChoices):
    """The mails a customer gets (customers/notices.py); templates/notices/<kind>.*"""

    RECEIPT = "receipt", "Receipt (invoice paid)"
    INVOICE_ISSUED = "invoice_issued", "Invoice issued"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    SUBSCRIPTION_CANCELED = "subscription_canceled", "Subscription canceled"
    ACCOUNT_SUSPENDED = "account_suspended", "Account suspended"
    ACCOUNT_RESTORED = "account_restored", "Account restored"
    TRIAL_ENDING = "trial_ending", "Trial ending soon"
    RENEWAL_UPCOMING = "renewal_upcoming", "Yearly renewal coming up"
    CARD_EXPIRING = "card_expiring", "Card expiring"
    USAGE_THRESHOLD = "usage_threshold", "Usage threshold reached"
    PAYMENT_REMINDER = "payment_reminder", "Payment reminder"
    DUNNING_FINAL_NOTICE = "dunning_final_notice", "Final notice (unpaid invoice)"


# Kinds a customer may opt out of (Customer.notices_opted_out); the others are always sent.
NON_ESSENTIAL_NOTICES = frozenset(
    {
        NoticeKind.TRIAL_ENDING,
        NoticeKind.RENEWAL_UPCOMING,
        NoticeKind.CARD_EXPIRING,
        NoticeKind.USAGE_THRESHOLD,
    }
)


class NoticeStatus(models.TextChoices):
    QUEUED = "queued", "Queued (recorded; sent after commit, not confirmed yet)"
    SENT = "sent", "Sent"
    SKIPPED_OPTED_OUT = "skipped_opted_out", "Skipped: the customer opted out"
    SKIPPED_NO_RECIPIENT = "skipped_no_recipient", "Skipped: no recipient"
    SKIPPED_PORTAL_ONLY = "skipped_portal_only", "Skipped: invoices delivered in the portal only"
    FAILED = "failed", "Failed"


class Notice(models.Model):
    """One mail to a customer, recorded once per `dedupe_key` (one event, one kind): what
    was sent or why not. Written by customers.notices.notice_send only."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=32, choices=NoticeKind.choices)
    dedupe_key = models.CharField(
        max_length=200, unique=True, help_text="One mail per key (the event and the kind)."
    )
    recipients = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    template = models.CharField(max_length=100, help_text="templates/notices/<kind>.*")
    related = models.CharField(
        max_length=200, blank=True, help_text="What it is about: an invoice number, an event id."
    )
    attachments = models.JSONField(default=list, blank=True, help_text="File names attached.")
    status = models.CharField(max_length=24, choices=NoticeStatus.choices)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.customer.external_id} ({self.status})"
