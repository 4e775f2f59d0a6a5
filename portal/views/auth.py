"""Sign in, sign out, password reset (Django's views, the portal's templates), and the
customer switcher for a login that belongs to several customers.

Failed sign-ins are limited by django-axes (portal/lockout.py); password-reset mails by
PASSWORD_RESET_MAILS_PER_HOUR_PER_ADDRESS and _PER_EMAIL on the shared cache."""

import hashlib
import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from api.client_ip import client_ip
from portal.access import SESSION_KEY, memberships

logger = logging.getLogger(__name__)

RESET_WINDOW_SECONDS = 3600


class PortalLoginView(auth_views.LoginView):
    """Django's sign-in (it passes the request to `authenticate`, which django-axes needs)."""

    template_name = "portal/registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return str(reverse_lazy("portal:overview"))


class PortalLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PortalPasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/registration/password_reset_form.html"
    email_template_name = "portal/registration/password_reset_email.txt"
    subject_template_name = "portal/registration/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")

    def form_valid(self, form):
        """Over either hourly limit the page answers as usual (nothing tells whether an
        account exists) but no mail is sent."""
        address = client_ip(self.request)
        email = form.cleaned_data["email"].strip().lower()
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        over_address = _over_limit(
            f"portal:reset-mail:address:{address}",
            settings.PASSWORD_RESET_MAILS_PER_HOUR_PER_ADDRESS,
        )
        over_email = _over_limit(
            f"portal:reset-mail:email:{digest}", settings.PASSWORD_RESET_MAILS_PER_HOUR_PER_EMAIL
        )
        if over_address or over_email:
            logger.warning(
                "Password-reset mail not sent: hourly limit per %s reached (client %s)",
                "client address" if over_address else "email",
                address or "unknown",
            )
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)


def _over_limit(key: str, limit: int) -> bool:
    """Count one more in `key`'s hour (a fixed window from its first use); True past `limit`."""
    cache.add(key, 0, RESET_WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, RESET_WINDOW_SECONDS)
        count = 1
    return count > limit


class PortalPasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/registration/password_reset_done.html"


class PortalPasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/registration/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password_reset_complete")


class PortalPasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/registration/password_reset_complete.html"


@require_POST
def customer_switch(request):
    """Act for another customer this login belongs to (unknown ids are ignored)."""
    if request.user.is_authenticated:
        wanted = request.POST.get("customer", "")
        if wanted.isdigit() and memberships(request.user).filter(customer_id=wanted).exists():
            request.session[SESSION_KEY] = int(wanted)
    return redirect("portal:overview")
