"""Sign in, sign out, password reset (Django's views, the portal's templates), and the
customer switcher for a login that belongs to several customers."""

from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from portal.access import SESSION_KEY, memberships


class PortalLoginView(auth_views.LoginView):
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
