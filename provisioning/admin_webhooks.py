"""Outbound webhooks in the operations console: endpoints (made and changed through the
services; the signing secret is shown once, as a session-stored message, never listed),
and deliveries, read-only, with every attempt inline and a "Redeliver now" action.
Imported by provisioning/admin.py."""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from api.errors import DomainError
from billing.events.admin_mixins import ActPermissionMixin, ReadOnlyMixin
from provisioning.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint
from provisioning.services import webhook_delivery, webhooks


def _events(text: str) -> list[str]:
    return [value for value in text.replace(",", " ").split() if value]


class WebhookEndpointForm(forms.ModelForm):
    events_text = forms.CharField(
        label="Events",
        required=False,
        help_text='Kinds or prefixes, separated by spaces or commas ("invoice.* '
        'subscription.canceled"). Empty: every event.',
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["events_text"].initial = " ".join(self.instance.events)

    def clean(self):
        cleaned = super().clean()
        try:  # the service's own checks, so its refusal shows on the form
            webhooks.webhook_url_clean(cleaned.get("url") or "")
        except DomainError as exc:
            self.add_error("url", exc.message)
        try:
            cleaned["events"] = webhooks.webhook_events_clean(
                _events(cleaned.get("events_text", ""))
            )
        except DomainError as exc:
            self.add_error("events_text", exc.message)
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ActPermissionMixin, admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "id",
        "url",
        "events_display",
        "active",
        "consecutive_failures",
        "disabled_at",
        "created_at",
    ]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "active",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "created_at",
    ]
    actions = ["disable_selected", "enable_selected", "rotate_secret_selected"]

    @admin.display(description="events")
    def events_display(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events) or "all"

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: deliveries keep their history

    def save_model(self, request, obj, form, change):
        """One service call: create (showing the secret once) or update."""
        data = form.cleaned_data
        if change:
            webhooks.webhook_endpoint_update(
                endpoint=obj,
                url=data["url"],
                events=data["events"],
                description=data.get("description", ""),
                at=timezone.now(),
            )
            obj.refresh_from_db()
            return
        endpoint, secret = webhooks.webhook_endpoint_create(
            url=data["url"],
            events=data["events"],
            description=data.get("description", ""),
            at=timezone.now(),
        )
        obj.pk = endpoint.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"Signing secret of {endpoint.url} (shown once, store it now): {secret}",
            messages.WARNING,
        )

    @admin.action(description="Disable the selected endpoints", permissions=["act"])
    def disable_selected(self, request, queryset):
        for endpoint in queryset.order_by("pk"):
            webhooks.webhook_endpoint_disable(endpoint=endpoint, at=timezone.now())
            self.log_change(request, endpoint, "Disabled (admin action).")
        self.message_user(request, f"Disabled: {queryset.count()}.", messages.SUCCESS)

    @admin.action(description="Enable the selected endpoints", permissions=["act"])
    def enable_selected(self, request, queryset):
        for endpoint in queryset.order_by("pk"):
            webhooks.webhook_endpoint_enable(endpoint=endpoint, at=timezone.now())
            self.log_change(request, endpoint, "Enabled (admin action).")
        self.message_user(request, f"Enabled: {queryset.count()}.", messages.SUCCESS)

    @admin.action(description="Rotate the signing secret", permissions=["act"])
    def rotate_secret_selected(self, request, queryset):
        for endpoint in queryset.order_by("pk"):
            endpoint, secret = webhooks.webhook_endpoint_rotate_secret(
                endpoint=endpoint, at=timezone.now()
            )
            self.log_change(request, endpoint, "Signing secret rotated (admin action).")
            self.message_user(
                request,
                f"New signing secret of {endpoint.url} (shown once): {secret}",
                messages.WARNING,
            )


class DeliveryAttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ["at", "response_code", "error", "duration_ms"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ActPermissionMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "endpoint",
        "event_kind",
        "status",
        "attempts",
        "next_attempt_at",
        "response_code",
        "created_at",
        "delivered_at",
    ]
    list_filter = ["status", "endpoint"]
    search_fields = ["event__kind", "endpoint__url", "=event__id"]
    list_select_related = ["endpoint", "event"]
    date_hierarchy = "created_at"
    fields = readonly_fields = [
        "endpoint",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "response_code",
        "response_body",
        "error",
        "created_at",
        "delivered_at",
    ]
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver_selected"]

    @admin.display(description="event", ordering="event__kind")
    def event_kind(self, obj: WebhookDelivery) -> str:
        return f"#{obj.event_id} {obj.event.kind}"

    @admin.action(description="Redeliver now", permissions=["act"])
    def redeliver_selected(self, request, queryset):
        """One attempt per row, now (each up to the timeout); the answers are reported."""
        for delivery in queryset.order_by("pk")[:20]:
            try:
                delivery = webhook_delivery.webhook_delivery_redeliver(
                    delivery=delivery, at=timezone.now()
                )
            except DomainError as exc:
                self.message_user(request, f"#{delivery.pk}: {exc.message}", messages.ERROR)
                continue
            self.log_change(request, delivery, f"Redelivered (admin action): {delivery.status}.")
            level = messages.SUCCESS if delivery.status == "succeeded" else messages.WARNING
            answer = delivery.response_code or delivery.error
            self.message_user(request, f"#{delivery.pk}: {delivery.status} ({answer})", level)
