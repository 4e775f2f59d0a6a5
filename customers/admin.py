"""Customers in the operations console. Never deleted: archived and unarchived by actions."""

from django.contrib import admin, messages
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html

from customers import hooks
from customers.admin_exports import CustomerResource, StaffExportMixin
from customers.forms_notices import CustomerAdminForm
from customers.models import Contact, Customer, CustomerUser, TaxIdStatus
from customers.services import TAX_ID_INPUTS, customer_archive, customer_unarchive


def customer_360_url(customer_id: int) -> str | None:
    """The customer's 360 page (reports/, found by URL name: customers does not import
    reports); None where those pages are not mounted."""
    try:
        return reverse("reports:customer_360", args=[customer_id])
    except NoReverseMatch:
        return None


class ArchivedFilter(admin.SimpleListFilter):
    title = "archived"
    parameter_name = "archived"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(archived_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(archived_at__isnull=True)
        return queryset


class ContactInline(admin.TabularInline):
    model = Contact
    fields = ["name", "email", "phone", "role", "receives_invoices"]
    extra = 0


class CustomerUserInline(admin.TabularInline):
    model = CustomerUser
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    raw_id_fields = ["user"]  # works for staff without permissions on auth users
    extra = 0


@admin.register(Customer)
class CustomerAdmin(StaffExportMixin, admin.ModelAdmin):
    resource_classes = [CustomerResource]
    form = CustomerAdminForm  # notices_opted_out as checkboxes (customers/forms_notices.py)
    list_display = [
        "external_id",
        "name",
        "email",
        "currency",
        "country",
        "timezone",
        "archived",
        "overview",
    ]
    list_filter = ["currency", "country", ArchivedFilter]
    search_fields = ["external_id", "name", "email", "tax_id"]
    readonly_fields = [
        "tax_id_status",
        "tax_id_checked_at",
        "tax_id_evidence",
        "archived_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        ("Identity", {"fields": ["external_id", "name", "email"]}),
        ("Billing settings", {"fields": ["currency", "timezone", "country"]}),
        (
            "Invoices",
            {
                "fields": ["payment_terms_days", "invoice_delivery"],
                "description": "Payment terms apply to invoices issued from now on (empty: "
                "the default terms). Portal only: no invoice mail is sent when an invoice is "
                "issued; staff can still resend one from the invoice's page.",
            },
        ),
        (
            "Tax",
            {
                "fields": [
                    "tax_id",
                    "tax_exempt",
                    "tax_id_status",
                    "tax_id_checked_at",
                    "tax_id_evidence",
                ],
                "description": "A new VAT/GST number (or billing country) is checked on save.",
            },
        ),
        (
            "Address",
            {
                "fields": [
                    "address_line1",
                    "address_line2",
                    "address_city",
                    "address_postal_code",
                    "address_state",
                    "address_country",
                ]
            },
        ),
        ("Notices", {"fields": ["notices_opted_out"]}),
        ("Metadata", {"fields": ["metadata", "archived_at", "created_at", "updated_at"]}),
    ]
    inlines = [ContactInline, CustomerUserInline]
    actions = ["archive_selected", "unarchive_selected"]

    @admin.display(boolean=True, description="archived", ordering="archived_at")
    def archived(self, obj: Customer) -> bool:
        return obj.is_archived

    @admin.display(description="360")
    def overview(self, obj: Customer) -> str:
        url = customer_360_url(obj.pk)
        return format_html('<a href="{}">Customer 360</a>', url) if url else "-"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if "invoice_delivery" in form.base_fields:
            # Not posted (an older form, a script): the model's default (email) or the
            # customer's current choice is kept.
            form.base_fields["invoice_delivery"].required = False
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return self.readonly_fields
        if obj.is_archived:  # as in customer_update: unarchive first
            return [f.name for f in Customer._meta.fields if f.name != "id"]
        return [*self.readonly_fields, "external_id"]

    def save_model(self, request, obj, form, change):
        """As `customer_update` does: a changed VAT number or country is checked again."""
        retax = not change or bool(set(TAX_ID_INPUTS) & set(form.changed_data))
        if retax and change:
            obj.tax_id_status = TaxIdStatus.UNVERIFIED
        super().save_model(request, obj, form, change)
        if retax and obj.tax_id:
            hooks.tax_id_changed.send(sender=Customer, customer=obj, at=timezone.now())

    def has_delete_permission(self, request, obj=None):
        return False  # invoices and events keep pointing at the customer: archive instead

    @admin.action(permissions=["change"], description="Archive selected customers")
    def archive_selected(self, request, queryset):
        at = timezone.now()
        count = 0
        for customer in queryset.filter(archived_at__isnull=True).order_by("pk"):
            customer_archive(customer=customer, at=at)
            self.log_change(request, customer, "Archived (admin action).")
            count += 1
        self.message_user(request, f"Archived {count} customer(s).", messages.SUCCESS)

    @admin.action(permissions=["change"], description="Unarchive selected customers")
    def unarchive_selected(self, request, queryset):
        count = 0
        for customer in queryset.filter(archived_at__isnull=False).order_by("pk"):
            customer_unarchive(customer=customer)
            self.log_change(request, customer, "Unarchived (admin action).")
            count += 1
        self.message_user(request, f"Unarchived {count} customer(s).", messages.SUCCESS)
