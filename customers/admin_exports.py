"""Exports of the admin's filtered lists (django-import-export, export only) and the customer
export. Customers is the lowest app with an export, so the conventions every export follows
live here too (billing and reports import them):

- `StaffExportMixin`, the base each admin class with an "Export" button adds: the filtered,
  searched and sorted change list (every page, not just the one on screen) to CSV or XLSX,
  for staff who may view the model (the view or the change permission, as the list itself).
- Columns: snake_case names, ids next to names (a customer's external id and name), codes
  of choices as stored ("open", not "Open"). In CSV, money is a plain decimal string in the
  currency's precision ("49.00" USD, "4900" JPY) beside a `currency` column and datetimes are
  ISO 8601 in UTC; XLSX gets numbers and (UTC) dates, which a spreadsheet can add up and sort.
- Text a spreadsheet would read as a formula (=, +, -, @ first, not a number) starts with a
  quote: a customer named "=HYPERLINK(…)" stays text (CSV/formula injection).
"""

import re
from datetime import UTC, date
from decimal import Decimal

from django.core.exceptions import BadRequest
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone
from import_export import fields, resources, widgets
from import_export.admin import ExportMixin
from import_export.formats.base_formats import CSV, XLSX

from catalog.money import format_amount, round_money
from customers.models import Customer

# Characters openpyxl refuses in a cell (control characters but tab, newline, return).
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True


def spreadsheet_safe(text: str) -> str:
    """`text` as a spreadsheet shows it but never runs it."""
    text = _ILLEGAL.sub("\N{REPLACEMENT CHARACTER}", text)
    if text.startswith(_FORMULA_START) and not is_number(text):
        return "'" + text
    return text


class TextWidget(widgets.CharWidget):
    def render(self, value, obj=None, **kwargs):
        return "" if value is None else spreadsheet_safe(str(value))


class DateTimeWidget(widgets.Widget):
    """ISO 8601 in UTC in CSV ("2026-03-01T00:00:00+00:00"); a UTC datetime in XLSX."""

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        value = value.astimezone(UTC)
        if kwargs.get("force_native_type"):
            return value.replace(tzinfo=None)  # XLSX cells have no time zone
        return value.isoformat(timespec="seconds")


class DateWidget(widgets.Widget):
    def render(self, value: date | None, obj=None, **kwargs):
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        return value if kwargs.get("force_native_type") else value.isoformat()


class MoneyWidget(widgets.Widget):
    """An amount in its row's currency (`currency_of(row)`), rounded to the currency's minor
    unit: a plain decimal string in CSV, a number in XLSX."""

    def __init__(self, currency_of=lambda row: row.currency):
        super().__init__()
        self.currency_of = currency_of

    def render(self, value: Decimal | None, obj=None, **kwargs):
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        currency = self.currency_of(obj)
        if kwargs.get("force_native_type"):
            return round_money(value, currency)
        return format_amount(value, currency)


class DecimalWidget(widgets.Widget):
    """A quantity (usage values): plain, without trailing zeros; a number in XLSX."""

    def render(self, value: Decimal | None, obj=None, **kwargs):
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        if kwargs.get("force_native_type"):
            return value
        return format(value.normalize(), "f")


class ValueWidget(widgets.Widget):
    """Ids, counts and booleans as they are ("" for none in CSV)."""

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return None if kwargs.get("force_native_type") else ""
        if isinstance(value, bool):
            return value if kwargs.get("force_native_type") else str(value).lower()
        return value if kwargs.get("force_native_type") else str(value)


class RowField(fields.Field):
    """A column whose widget also gets the row (`obj`): money reads the row's currency."""

    def export(self, instance, **kwargs):
        return self.widget.render(self.get_value(instance), obj=instance, **kwargs)


def text(attribute: str, column: str | None = None) -> RowField:
    return RowField(attribute=attribute, column_name=column, widget=TextWidget())


def value(attribute: str, column: str | None = None) -> RowField:
    return RowField(attribute=attribute, column_name=column, widget=ValueWidget())


def when(attribute: str, column: str | None = None) -> RowField:
    return RowField(attribute=attribute, column_name=column, widget=DateTimeWidget())


def day(attribute: str, column: str | None = None) -> RowField:
    return RowField(attribute=attribute, column_name=column, widget=DateWidget())


def money(attribute: str, column: str | None = None, currency_of=None) -> RowField:
    widget = MoneyWidget(currency_of) if currency_of else MoneyWidget()
    return RowField(attribute=attribute, column_name=column, widget=widget)


def quantity(attribute: str, column: str | None = None) -> RowField:
    return RowField(attribute=attribute, column_name=column, widget=DecimalWidget())


class ExportResource(resources.ModelResource):
    """An export only resource whose columns are exactly its declared fields, in order;
    `select_related` names what its rows read besides themselves (no query per row)."""

    select_related: tuple[str, ...] = ()

    def filter_export(self, queryset, **kwargs):
        if self.select_related:
            queryset = queryset.select_related(*self.select_related)
        return queryset

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("Export only.")


class StaffExportMixin(ExportMixin):
    """The "Export" button of a change list: its filtered list as CSV or XLSX, for staff who
    may view the model. Put it first among the admin class's bases and name the columns in
    `resource_classes`."""

    export_formats = [CSV, XLSX]

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_export_queryset(self, request):
        from django.contrib.admin.options import IncorrectLookupParameters

        try:
            return super().get_export_queryset(request)
        except IncorrectLookupParameters as exc:
            raise BadRequest("The list's filters are not valid.") from exc

    def init_request_context_data(self, request, form):
        """The export page also says how many rows of which list it writes."""
        context = super().init_request_context_data(request, form)
        query = request.GET.urlencode()
        context["export_count"] = self.get_export_queryset(request).count()
        context["export_filtered"] = bool(query)
        list_url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist")
        context["export_list_url"] = f"{list_url}?{query}" if query else list_url
        return context

    def get_export_filename(self, request, queryset, file_format):
        name = str(self.opts.verbose_name_plural).replace(" ", "-")
        return f"{name}-{timezone.now():%Y-%m-%d}.{file_format.get_extension()}"

    def init_change_list_template(self):
        """The list's own template (the class's `change_list_template`, else the one Django
        would find by name: admin/<app>/<model>/change_list.html) goes under the export
        button's, so the list keeps its buttons."""
        super().init_change_list_template()
        if self.ie_base_change_list_template == "admin/change_list.html":
            app_label, model_name = self.opts.app_label, self.opts.model_name
            found = select_template(
                [
                    f"admin/{app_label}/{model_name}/change_list.html",
                    f"admin/{app_label}/change_list.html",
                    "admin/change_list.html",
                ]
            )
            self.ie_base_change_list_template = found.template.origin.template_name


class CustomerResource(ExportResource):
    id = value("id")
    external_id = text("external_id")
    name = text("name")
    email = text("email")
    currency = text("currency")
    country = text("country")
    timezone = text("timezone")
    tax_id = text("tax_id")
    tax_id_status = text("tax_id_status")
    tax_exempt = text("tax_exempt")
    address_line1 = text("address_line1")
    address_line2 = text("address_line2")
    address_city = text("address_city")
    address_postal_code = text("address_postal_code")
    address_state = text("address_state")
    address_country = text("address_country")
    payment_terms_days = value("payment_terms_days")
    invoice_delivery = text("invoice_delivery")
    archived_at = when("archived_at")
    created_at = when("created_at")

    class Meta:
        model = Customer
        name = "Customers"
        fields = (
            "id",
            "external_id",
            "name",
            "email",
            "currency",
            "country",
            "timezone",
            "tax_id",
            "tax_id_status",
            "tax_exempt",
            "address_line1",
            "address_line2",
            "address_city",
            "address_postal_code",
            "address_state",
            "address_country",
            "payment_terms_days",
            "invoice_delivery",
            "archived_at",
            "created_at",
        )
