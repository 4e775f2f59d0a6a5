"""A confirmation page for the admin's destructive list actions that need no form of their
own (revoke a key, remove a card): the action runs only when the page's form comes back."""

from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.template.response import TemplateResponse

CONFIRMED = "confirmed"
SHOWN_ROWS = 100


def action_confirmation(
    model_admin, request, queryset: QuerySet, *, action: str, title: str, consequence: str
) -> TemplateResponse | None:
    """None once the staff member confirmed; until then, the page listing the selected rows
    (their ids travel back with the form, as Django's own delete confirmation does)."""
    if request.POST.get(CONFIRMED) == "yes":
        return None
    rows = list(queryset.order_by("pk")[: SHOWN_ROWS + 1])
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "consequence": consequence,
        "rows": rows[:SHOWN_ROWS],
        "more": len(rows) > SHOWN_ROWS,
        "count": queryset.count(),
        "action": action,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "confirmed": CONFIRMED,
    }
    return TemplateResponse(request, "admin/action_confirm.html", context)
