"""The confirmation step of the portal's destructive actions (cancel now, revoke an API key,
remove a payment method).

GET on the action's URL shows what will happen and a form with a Confirm button; that form
posts `confirm=yes` back to the same URL. A POST without it (an old page, a script, a
double-submitted list form) does nothing and is sent (303) to the confirmation page.
"""

from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

CONFIRM_FIELD = "confirm"
CONFIRM_VALUE = "yes"


def confirmed(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get(CONFIRM_FIELD) == CONFIRM_VALUE


def to_confirmation(url: str) -> HttpResponse:
    """303 See Other: the browser GETs the confirmation page."""
    return HttpResponseRedirect(url, status=303)


def confirm_page(
    request: HttpRequest,
    *,
    title: str,
    consequences: Iterable[str],
    action: str,
    confirm_label: str,
    back_url: str,
    back_label: str,
    status: int = 200,
) -> HttpResponse:
    """The confirmation page: `title`, what will happen (`consequences`, plain sentences),
    and a POST form to `action` with a Confirm button (`confirm_label`) and a way back."""
    context = {
        "title": title,
        "consequences": list(consequences),
        "action": action,
        "confirm_label": confirm_label,
        "back_url": back_url,
        "back_label": back_label,
        "confirm_field": CONFIRM_FIELD,
        "confirm_value": CONFIRM_VALUE,
    }
    return render(request, "portal/confirm.html", context, status=status)
