"""Subscription changes, team, seats and service API keys."""

from django.urls import path

from portal.views import stub

urlpatterns = [
    path("subscriptions/", stub.page, {"title": "Subscriptions"}, name="subscriptions"),
    path("team/", stub.page, {"title": "Team"}, name="team"),
    path("api-keys/", stub.page, {"title": "API keys"}, name="api_keys"),
]
