"""Invoices and their number sequences in the operations console: read-only, changed only by
the status actions (finalize, mark paid, and — after a confirmation page with a reason —
void and write off), each a service call per row, and by the pages of
billing/invoicing/admin/invoice_pages.py (PDF, resend, credit note by line, one-off invoices)."""

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db.models import Model
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from billing.events.admin import ReadOnlyInline, billing_events_url, run_per_row
from billing.invoicing.admin.dates import CustomerDaysMixin
from billing.invoicing.admin.exports import InvoiceResource
from billing.invoicing.admin.invoice_pages import InvoicePagesMixin
from billing.invoicing.admin.taxes import tax_table
from billing.invoicing.models.invoices import Invoice, InvoiceLine, InvoiceNumberSequence
from billing.invoicing.services.invoices import invoice_finalize, invoice_mark_paid
from customers.admin_exports import StaffExportMixin
from customers.dates import customer_day, day


def read_only_fieldsets(
    model: type[Model],
    groups: list,
    *,
    displays: tuple = (),
    editable: tuple = (),
    hidden: tuple = (),
) -> list:
    """Fieldsets of `groups` (field names and the admin's `displays`), then an "Other" one
    with whatever fields the model has beyond them (so a new field shows up), leaving out the
    id, the `editable` fields the caller shows itself and the `hidden` ones a display
    shows."""
    names = [
        f.name for f in model._meta.concrete_fields if f.name not in ("id", *editable, *hidden)
    ]
    fieldsets, listed = [], set()
    for title, fields in groups:
        shown = [f for f in fields if f in names or f in displays]
        listed.update(shown)
        if shown:
            fieldsets.append((title, {"fields": shown}))
    rest = [name for name in names if name not in listed]
    if rest:
        fieldsets.append(("Other", {"fields": rest}))
    return fieldsets


def fieldset_names(fieldsets: list) -> list[str]:
    return [name for _, options in fieldsets for name in options["fields"]]


# Invoices
class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fk_name = "invoice"
    fields = [
        "kind",
        "description",
        "quantity",
        "unit_amount",
        "amount",
        "period_start",
        "period_end",
        "tax_rate",
        "tax_amount",
        "tax_components",
        "tax_code",
        "tax_behavior",
    ]
    readonly_fields = fields

    @admin.display(description="taxes")
    def tax_components(self, obj: InvoiceLine) -> str:
        parts = [
            (t["name"], t["jurisdiction"], t["rate"], t["taxable_amount"], t["amount"], t["reason"])
            for t in obj.taxes
        ]
        return format_html_join(mark_safe("<br>"), "{} {} {}% of {}: {} ({})", parts) or "-"


class StatusActionsMixin:
    """Read-only admin whose actions (services) need the model's change permission."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_act_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


# The invoice's tax, shown formatted: displays of the admin, standing for these JSON fields.
TAX_DISPLAYS = ("tax_point", "buyer_vat_number", "tax_rows", "tax_statements", "seller")
TAX_SHOWN_BY = ("tax_date", "buyer_tax_id", "taxes", "tax_notes", "seller_details")

INVOICE_GROUPS = [
    ("Invoice", ["number", "series", "customer", "currency", "status", "bill_run"]),
    ("Period", ["period_start", "period_end"]),
    ("Amounts", ["subtotal", "discount", "tax", "total", "amount_paid", "amount_due"]),
    ("Tax", ["tax_point", "buyer_vat_number", "tax_rows", "tax_statements", "seller"]),
    (
        "Dates",
        [
            "customer_days",
            "created_at",
            "scheduled_issue_at",
            "issued_at",
            "due_at",
            "paid_at",
            "voided_at",
        ],
    ),
    ("History", ["billing_events"]),
]


class ScheduledFilter(admin.SimpleListFilter):
    """Drafts waiting for their issue date (one-off invoices issued later)."""

    title = "scheduled"
    parameter_name = "scheduled"

    def lookups(self, request, model_admin):
        return [("yes", "Scheduled drafts"), ("no", "Not scheduled")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status="draft", scheduled_issue_at__isnull=False)
        if self.value() == "no":
            return queryset.exclude(status="draft", scheduled_issue_at__isnull=False)
        return queryset


@admin.register(Invoice)
class InvoiceAdmin(
    StaffExportMixin, InvoicePagesMixin, CustomerDaysMixin, StatusActionsMixin, admin.ModelAdmin
):
    resource_classes = [InvoiceResource]
    list_display = [
        "number_or_draft",
        "customer",
        "currency",
        "status",
        "total",
        "amount_due",
        "issue_day",
        "due_day",
        "period_start",
    ]
    list_filter = ["status", ScheduledFilter, "currency", "created_at"]
    search_fields = ["number", "customer__external_id", "customer__name"]
    list_select_related = ["customer"]
    date_hierarchy = "created_at"
    fieldsets = read_only_fieldsets(
        Invoice,
        INVOICE_GROUPS,
        displays=("billing_events", "customer_days", *TAX_DISPLAYS),
        hidden=TAX_SHOWN_BY,
    )
    readonly_fields = fieldset_names(fieldsets)
    inlines = [InvoiceLineInline]
    change_list_template = "admin/billing/invoice/change_list.html"
    actions = [
        "finalize_selected",
        "mark_paid_selected",
        "download_pdf_selected",
        "resend_selected",
        "void_selected",
        "mark_uncollectible_selected",
    ]

    @admin.display(description="number", ordering="number")
    def number_or_draft(self, obj: Invoice) -> str:
        if obj.number:
            return obj.number
        if obj.scheduled_issue_at and obj.status == "draft":
            return f"Draft #{obj.pk} (issued {customer_day(obj.scheduled_issue_at, obj.customer)})"
        return f"Draft #{obj.pk}"

    @admin.display(description="tax point", ordering="tax_date")
    def tax_point(self, obj: Invoice) -> str:
        return day(obj.tax_date) if obj.tax_date else "-"

    @admin.display(description="buyer's VAT number")
    def buyer_vat_number(self, obj: Invoice) -> str:
        return obj.buyer_tax_id or "- (not taxed as a business)"

    @admin.display(description="taxes")
    def tax_rows(self, obj: Invoice) -> str:
        return tax_table(obj.taxes)

    @admin.display(description="tax notes")
    def tax_statements(self, obj: Invoice) -> str:
        return format_html_join("", "<div>{}</div>", ((note,) for note in obj.tax_notes)) or "-"

    @admin.display(description="seller (as issued)")
    def seller(self, obj: Invoice) -> str:
        details = obj.seller_details
        if not details:
            return "- (not finalized, or issued before tax: documents show the seller of now)"
        lines = [details.get("name", ""), *details.get("address", [])]
        lines += [f"{n['jurisdiction']}: {n['number']}" for n in details.get("tax_numbers", [])]
        return format_html_join("", "<div>{}</div>", ((line,) for line in lines if line))

    @admin.display(description="billing events")
    def billing_events(self, obj: Invoice) -> str:
        return format_html(
            '<a href="{}">Billing events of this invoice</a>', billing_events_url(obj)
        )

    def has_add_permission(self, request):
        return False  # from subscriptions and bill runs, or the "Add one-off invoice" page

    def has_delete_permission(self, request, obj=None):
        return False  # void instead

    @admin.action(permissions=["act"], description="Finalize (number and open)")
    def finalize_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_finalize(invoice=invoice, at=at, actor=request.user),
            "Finalized",
        )

    @admin.action(permissions=["act"], description="Mark paid (outside any gateway)")
    def mark_paid_selected(self, request, queryset):
        at = timezone.now()
        run_per_row(
            self,
            request,
            queryset,
            lambda invoice: invoice_mark_paid(invoice=invoice, at=at, actor=request.user),
            "Marked paid",
        )


# Number sequences
@admin.register(InvoiceNumberSequence)
class InvoiceNumberSequenceAdmin(admin.ModelAdmin):
    list_display = ["series", "year", "next_value"]
    list_filter = ["series", "year"]
    search_fields = ["series"]
    fields = list_display
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
