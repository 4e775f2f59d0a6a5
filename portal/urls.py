from django.urls import include, path

from portal.views import auth

app_name = "portal"

urlpatterns = [
    path("login/", auth.PortalLoginView.as_view(), name="login"),
    path("logout/", auth.PortalLogoutView.as_view(), name="logout"),
    path("password-reset/", auth.PortalPasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth.PortalPasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth.PortalPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth.PortalPasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("switch/", auth.customer_switch, name="customer_switch"),
    path("", include("portal.urls_account")),
    path("", include("portal.urls_manage")),
]
