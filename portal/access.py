"""Who is asking, for which customer, with which role: the one gate every portal view uses.

A login may belong to several customers (`CustomerUser`); the one being acted for is kept in
the session (`portal_customer`), the first membership by default. Every object a view
touches is looked up *through* `portal.customer`, so another customer's id is a 404.
"""

from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import get_resolver, get_urlconf
from django.utils.log import log_response

from customers.models import Customer, CustomerUser
from provisioning.roles import role_allows, role_permissions

SESSION_KEY = "portal_customer"
LOGIN_URL = "portal:login"


@dataclass(frozen=True)
class Portal:
    membership: CustomerUser

    @property
    def customer(self) -> Customer:
        return self.membership.customer

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def permissions(self) -> frozenset[str]:
        return role_permissions(self.role)

    def can(self, permission: str) -> bool:
        return role_allows(self.role, permission)

    def others(self) -> list[CustomerUser]:
        """The login's other customers, for the switcher."""
        return list(memberships(self.membership.user_id).exclude(pk=self.membership.pk))


def memberships(user) -> QuerySet[CustomerUser]:
    """`user` is a user or its id."""
    return CustomerUser.objects.filter(user=user).select_related("customer").order_by("pk")


def portal_resolve(request: HttpRequest) -> Portal | None:
    """The membership the session acts for; None when the login has none."""
    if not request.user.is_authenticated:
        return None
    mine = memberships(request.user)
    chosen = request.session.get(SESSION_KEY)
    membership = (mine.filter(customer_id=chosen).first() if chosen else None) or mine.first()
    return Portal(membership) if membership else None


def portal_view(permission: str = "view"):
    """Decorator: a signed-in customer user whose role allows `permission`.

    Sets `request.portal`. Anonymous → the portal login; a login without any customer or
    whose role lacks the permission → 403, logged in one line (`permission_refused`)."""

    def decorate(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), LOGIN_URL)
            portal = portal_resolve(request)
            if portal is None or not portal.can(permission):
                return permission_refused(request, permission)
            request.portal = portal
            return view(request, *args, **kwargs)

        wrapper.portal_permission = permission
        return wrapper

    return decorate


def permission_refused(request: HttpRequest, permission: str) -> HttpResponse:
    """The site's 403 page, logged as one WARNING line (`django.request`, like Django's own
    4xx lines). Returned rather than raised: Django logs a raised PermissionDenied with its
    whole traceback, which for an expected refusal is only noise."""
    exception = PermissionDenied(permission)
    response = get_resolver(get_urlconf()).resolve_error_handler(403)(request, exception=exception)
    log_response(
        "Forbidden (portal permission %s): %s",
        permission,
        request.path,
        response=response,
        request=request,
    )
    return response


def owned_or_404(queryset: QuerySet, portal: Portal, **lookup) -> Model:
    """One object of `queryset` that belongs to the portal's customer, else 404."""
    return get_object_or_404(queryset, customer=portal.customer, **lookup)
