"""Subscription changes, team, seats and service API keys."""

from django.urls import path

from portal.views import keys, subscriptions, team

urlpatterns = [
    path("subscriptions/", subscriptions.subscription_list, name="subscriptions"),
    path("subscriptions/<int:pk>/", subscriptions.subscription_detail, name="subscription"),
    path(
        "subscriptions/<int:pk>/preview/",
        subscriptions.subscription_change_preview,
        name="subscription_preview",
    ),
    path(
        "subscriptions/<int:pk>/change/",
        subscriptions.subscription_change_confirm,
        name="subscription_change",
    ),
    path(
        "subscriptions/<int:pk>/cancel/",
        subscriptions.subscription_cancel_view,
        name="subscription_cancel",
    ),
    path(
        "subscriptions/<int:pk>/keep/",
        subscriptions.subscription_keep_view,
        name="subscription_keep",
    ),
    path(
        "subscriptions/<int:pk>/pause/",
        subscriptions.subscription_pause_view,
        name="subscription_pause",
    ),
    path(
        "subscriptions/<int:pk>/resume/",
        subscriptions.subscription_resume_view,
        name="subscription_resume",
    ),
    path("team/", team.team, name="team"),
    path("team/add/", team.member_add, name="team_add"),
    path("team/<int:pk>/role/", team.member_role, name="team_role"),
    path("team/<int:pk>/remove/", team.member_remove, name="team_remove"),
    path("team/seats/assign/", team.seat_assign_view, name="seat_assign"),
    path("team/seats/<int:pk>/unassign/", team.seat_unassign_view, name="seat_unassign"),
    path("api-keys/", keys.key_list, name="api_keys"),
    path("api-keys/create/", keys.key_create, name="api_key_create"),
    path("api-keys/<int:pk>/rotate/", keys.key_rotate, name="api_key_rotate"),
    path("api-keys/<int:pk>/revoke/", keys.key_revoke, name="api_key_revoke"),
    path("api-keys/<int:pk>/reveal/", keys.key_reveal, name="api_key_reveal"),
]
