"""The customer's service API keys: create, rotate, revoke, and reveal a key issued by
provisioning.

Permissions (provisioning/roles.py): the list needs `VIEW` (it never shows a secret, only
each key's prefix); create, rotate, revoke and reveal need `MANAGE_API_KEYS`. Revoking has a
confirmation page (portal/confirm.py): the list links to it.

The raw key exists only in the response to create, rotate or reveal: the page is rendered
directly from that POST (no redirect, `Cache-Control: no-store`), so the secret is never
stored — not in the database (only its hash), not in the session — and cannot be shown
again. A key issued by provisioning is mailed to nobody: its owner reveals it here, once.
"""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from api.errors import DomainError, error_text
from portal.access import owned_or_404, portal_view
from portal.confirm import confirm_page, confirmed, to_confirmation
from portal.forms_manage import ServiceKeyCreateForm, ServiceKeyRotateForm, service_error_add
from provisioning.models import ServiceKey
from provisioning.roles import Permission
from provisioning.services.keys import (
    service_key_create,
    service_key_reveal,
    service_key_revoke,
    service_key_rotate,
)


def _page(
    request: HttpRequest,
    *,
    create_form: ServiceKeyCreateForm | None = None,
    secret: str | None = None,
    issued: ServiceKey | None = None,
    replaced: ServiceKey | None = None,
    revealed: bool = False,
    status: int = 200,
) -> HttpResponse:
    portal = request.portal
    keys = ServiceKey.objects.filter(customer=portal.customer).select_related("rotated_to")
    context = {
        "title": "API keys",
        "keys": keys,
        "now": timezone.now(),
        "can_manage": portal.can(Permission.MANAGE_API_KEYS),
        "create_form": create_form or ServiceKeyCreateForm(),
        "rotate_form": ServiceKeyRotateForm(),
        "secret": secret,
        "issued": issued,
        "replaced": replaced,
        "revealed": revealed,
    }
    response = render(request, "portal/keys/keys.html", context, status=status)
    if secret:
        response["Cache-Control"] = "no-store"
    return response


@require_GET
@portal_view(Permission.VIEW)
def key_list(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@portal_view(Permission.MANAGE_API_KEYS)
@sensitive_variables()  # an error report shows no variable of it or below: the secret
def key_create(request: HttpRequest) -> HttpResponse:
    form = ServiceKeyCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, create_form=form, status=400)
    try:
        key, raw = service_key_create(
            customer=request.portal.customer,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            at=timezone.now(),
            actor=request.user,
        )
    except (ValidationError, DomainError) as error:
        service_error_add(form, error)
        return _page(request, create_form=form, status=400)
    return _page(request, secret=raw, issued=key)


@require_POST
@portal_view(Permission.MANAGE_API_KEYS)
@sensitive_variables()  # an error report shows no variable of it or below: the secret
def key_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    key = owned_or_404(ServiceKey.objects, request.portal, pk=pk)
    form = ServiceKeyRotateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose how long the old key keeps working.")
        return _page(request, status=400)
    try:
        new, raw = service_key_rotate(
            key=key,
            at=timezone.now(),
            overlap=timedelta(hours=form.cleaned_data["overlap_hours"]),
            actor=request.user,
        )
    except (ValidationError, DomainError) as error:
        messages.error(request, error_text(error))
        return _page(request, status=400)
    key.refresh_from_db()
    return _page(request, secret=raw, issued=new, replaced=key)


def _key_label(key: ServiceKey) -> str:
    return f"“{key.name}”" if key.unrevealed else f"“{key.name}” ({key.prefix}…)"


def revoke_consequences(key: ServiceKey, now) -> list[str]:
    """What revoking `key` does, in the customer's words."""
    sentences = [
        f"The key {_key_label(key)} stops working at once: every request made with it is refused.",
    ]
    if key.expires_at and key.expires_at > now:
        sentences.append(
            f"It was replaced and would have kept working until "
            f"{key.expires_at:%Y-%m-%d %H:%M} UTC; revoking ends that now."
        )
    used = f"{key.last_used_at:%Y-%m-%d %H:%M} UTC" if key.last_used_at else "never"
    sentences.append(f"Last used: {used}. Systems still using it must switch to another key first.")
    sentences.append("This cannot be undone: a revoked key never works again.")
    return sentences


@require_http_methods(["GET", "POST"])
@portal_view(Permission.MANAGE_API_KEYS)
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what revoking the key does, and Confirm. POST with the confirmation: revoke it;
    without: back to the confirmation page."""
    key = owned_or_404(ServiceKey.objects, request.portal, pk=pk)
    if key.revoked_at is not None:
        messages.info(request, f"The key {_key_label(key)} is already revoked.")
        return redirect("portal:api_keys")
    url = reverse("portal:api_key_revoke", args=[key.pk])
    if not confirmed(request):
        if request.method == "POST":
            return to_confirmation(url)
        return confirm_page(
            request,
            title=f"Revoke the API key “{key.name}”?",
            consequences=revoke_consequences(key, timezone.now()),
            action=url,
            confirm_label="Revoke the key",
            back_url=reverse("portal:api_keys"),
            back_label="Keep it",
        )
    key = service_key_revoke(key=key, at=timezone.now(), actor=request.user)
    messages.success(request, f"The key {_key_label(key)} is revoked.")
    return redirect("portal:api_keys")


@require_POST
@portal_view(Permission.MANAGE_API_KEYS)
@sensitive_variables()  # an error report shows no variable of it or below: the secret
def key_reveal(request: HttpRequest, pk: int) -> HttpResponse:
    """Shows a key issued by provisioning, this once; a second reveal is refused."""
    key = owned_or_404(ServiceKey.objects, request.portal, pk=pk)
    try:
        key, raw = service_key_reveal(key=key, at=timezone.now(), actor=request.user)
    except DomainError as error:
        messages.error(request, error_text(error))
        return _page(request, status=400)
    return _page(request, secret=raw, issued=key, revealed=True)
