import hashlib
import re

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.urls import reverse

from api.models import ApiKey, IdempotencyRecord
from api.services import api_key_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("model", [m for m in admin.site._registry if m._meta.app_label == "api"])
def test_changelist_and_add_pages(admin_client, model, api_key):
    opts = model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    assert admin_client.get(changelist, {"q": "x"}).status_code == 200
    add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    assert admin_client.get(add).status_code == (200 if model is ApiKey else 403)


def test_add_stores_only_the_hash_and_shows_the_key_once(admin_client, admin_user):
    response = admin_client.post(
        reverse("admin:api_apikey_add"), {"name": "CRM", "scopes": ["read", "write"]}, follow=True
    )
    assert response.status_code == 200
    texts = [str(m) for m in response.context["messages"]]
    warning = next(t for t in texts if "it will not be shown again" in t)
    raw = re.search(r"sk_[A-Za-z0-9_\-]+", warning).group()
    key = ApiKey.objects.get()
    assert key.hashed_key == hashlib.sha256(raw.encode()).hexdigest()
    assert (key.name, key.scopes, key.created_by) == ("CRM", ["read", "write"], admin_user)
    assert raw.startswith(key.prefix)
    stored = [str(getattr(key, f.attname)) for f in ApiKey._meta.concrete_fields]
    assert not any(raw in value for value in stored)
    # Shown once: the change page does not carry it.
    page = admin_client.get(reverse("admin:api_apikey_change", args=[key.pk]))
    assert raw not in page.content.decode()


def test_add_needs_a_scope(admin_client):
    response = admin_client.post(reverse("admin:api_apikey_add"), {"name": "CRM"})
    assert response.status_code == 200
    assert "scopes" in response.context["adminform"].form.errors
    assert not ApiKey.objects.exists()


def test_change_edits_only_the_name(admin_client, api_key):
    before = ApiKey.objects.get(pk=api_key.pk)
    response = admin_client.post(
        reverse("admin:api_apikey_change", args=[api_key.pk]),
        {"name": "renamed", "scopes": ["read"], "prefix": "sk_evil", "hashed_key": "0" * 64},
    )
    assert response.status_code == 302
    after = ApiKey.objects.get(pk=api_key.pk)
    assert after.name == "renamed"
    assert (after.prefix, after.hashed_key, after.scopes) == (
        before.prefix,
        before.hashed_key,
        before.scopes,
    )


def test_revoke_action(admin_client, api_key):
    other, _ = api_key_create(name="other", scopes=["read"])
    selected = {"action": "revoke_selected", "_selected_action": [api_key.pk]}
    url = reverse("admin:api_apikey_changelist")
    page = admin_client.post(url, selected)  # the confirmation page first: nothing revoked
    assert page.status_code == 200
    assert "Requests signed with these keys are refused at once" in page.content.decode()
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    response = admin_client.post(url, {**selected, "confirmed": "yes"})
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None
    assert ApiKey.objects.get(pk=other.pk).revoked_at is None
    assert any("Revoked 1" in str(m) for m in get_messages(response.wsgi_request))


def test_revoked_filter(admin_client, api_key):
    url = reverse("admin:api_apikey_changelist")
    assert admin_client.get(url, {"revoked": "no"}).context["cl"].result_count == 1
    assert admin_client.get(url, {"revoked": "yes"}).context["cl"].result_count == 0


def test_no_delete(admin_client, api_key):
    assert (
        admin_client.get(reverse("admin:api_apikey_delete", args=[api_key.pk])).status_code == 403
    )
    actions = admin_client.get(reverse("admin:api_apikey_changelist")).context["action_form"]
    assert "delete_selected" not in dict(actions.fields["action"].choices)


def test_idempotency_record_is_read_only(admin_client, api_key):
    record = IdempotencyRecord.objects.create(
        api_key=api_key, key="abc", method="POST", path="/api/v1/customers/", request_hash="h"
    )
    listing = admin_client.get(reverse("admin:api_idempotencyrecord_changelist"), {"q": "abc"})
    assert listing.context["cl"].result_count == 1
    change = reverse("admin:api_idempotencyrecord_change", args=[record.pk])
    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"key": "other"}).status_code == 403
    assert IdempotencyRecord.objects.get(pk=record.pk).key == "abc"
