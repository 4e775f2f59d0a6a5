"""Sign in, sign out, password reset (Django's views, the portal's templates), and the
customer switcher for a login that belongs to several customers."""

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from portal.access import SESSION_KEY, memberships

MAX_FAILED_SIGN_INS = 5
LOCKOUT_SECONDS = 15 * 60


def _failures_key(request) -> str:
    username = request.POST.get("username", "").strip().lower()[:150]
    return f"portal:sign-in-failures:{request.META.get('REMOTE_ADDR', '')}:{username}"


class PortalLoginView(auth_views.LoginView):
    """Django's sign-in; after MAX_FAILED_SIGN_INS wrong passwords for one email from one
    address, that pair is refused for LOCKOUT_SECONDS (counted in the cache)."""

    template_name = "portal/registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        return str(reverse_lazy("portal:overview"))

    def post(self, request, *args, **kwargs):
        if cache.get(_failures_key(request), 0) >= MAX_FAILED_SIGN_INS:
            messages.error(request, "Too many failed sign-ins: try again in 15 minutes.")
            return self.get(request, *args, **kwargs)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        key = _failures_key(self.request)
        cache.add(key, 0, LOCKOUT_SECONDS)
        cache.incr(key)
        return super().form_invalid(form)


class PortalLogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("portal:login")


class PortalPasswordResetView(auth_views.PasswordResetView):
    template_name = "portal/registration/password_reset_form.html"
    email_template_name = "portal/registration/password_reset_email.txt"
    subject_template_name = "portal/registration/password_reset_subject.txt"
    success_url = reverse_lazy("portal:password_reset_done")


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
