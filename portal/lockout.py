"""Sign-in lockouts (django-axes) for the portal and the admin: the callables its settings name.

Failures are stored by axes' database handler (`AccessAttempt` rows, shared by every process)
per username + client address (`api.client_ip.client_ip`, through TRUSTED_PROXY_COUNT
proxies). Two limits within SIGN_IN_COOLOFF_MINUTES of the last failure:

- SIGN_IN_FAILURE_LIMIT wrong passwords for one username from one address lock that pair
  only: the same person elsewhere, and other people at that address, can still sign in, so
  nobody can lock another person out from somewhere else;
- SIGN_IN_ADDRESS_FAILURE_LIMIT failures from one address over all usernames (password
  spraying) lock that address for every username.

Axes compares one count with one limit, so the second limit lives in `sign_in_failure_limit`
(AXES_FAILURE_LIMIT): an address that used up its budget gets a limit of 0.
"""

from axes.attempts import get_cool_off_threshold
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import render

from api.client_ip import client_ip

LOCKED_OUT_TEMPLATE = "portal/registration/locked_out.html"


def sign_in_username(request, credentials) -> str | None:
    """AXES_USERNAME_CALLABLE: the username as typed, trimmed and lower-cased, so "Ann@X.com"
    and "ann@x.com" share one count."""
    source = credentials if credentials else getattr(request, "POST", {})
    username = (source.get("username") or "").strip().lower()[:255]
    return username or None


def address_failures(request) -> int:
    """Failed sign-ins from the request's client address within the cool-off, any username."""
    address = getattr(request, "axes_ip_address", None) or client_ip(request) or None
    total = AccessAttempt.objects.filter(
        ip_address=address, attempt_time__gte=get_cool_off_threshold(request)
    ).aggregate(total=Sum("failures_since_start"))["total"]
    return total or 0


def sign_in_failure_limit(request, credentials) -> int:
    """AXES_FAILURE_LIMIT: SIGN_IN_FAILURE_LIMIT for a username at an address, or 0 (locked
    for every username) once the address has SIGN_IN_ADDRESS_FAILURE_LIMIT failures."""
    if address_failures(request) >= settings.SIGN_IN_ADDRESS_FAILURE_LIMIT:
        return 0
    return settings.SIGN_IN_FAILURE_LIMIT


def locked_out_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with Retry-After; the portal's page on the portal, a plain
    message elsewhere (the admin). Says nothing of whether the account exists."""
    minutes = settings.SIGN_IN_COOLOFF_MINUTES
    if request.path.startswith("/portal/"):
        response = render(request, LOCKED_OUT_TEMPLATE, {"minutes": minutes}, status=429)
    else:
        response = HttpResponse(
            f"Too many failed sign-ins. Try again in {minutes} minutes.",
            content_type="text/plain; charset=utf-8",
            status=429,
        )
    response["Retry-After"] = str(minutes * 60)
    return response
