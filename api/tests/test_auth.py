import hashlib

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiKey
from api.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db
URL = "/api/v1/customers/"


def test_no_key_is_401_with_contract_body():
    response = APIClient().get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "authentication"


@pytest.mark.parametrize("header", ["Bearer", "Token abc", "Bearer a b", "Bearer sk_nope"])
def test_malformed_or_unknown_key_is_401(header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication"


def test_revoked_key_is_401():
    key, raw = api_key_create(name="old", scopes=["read"])
    api_key_revoke(api_key=key, at=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "revoked_api_key"


def test_read_scope_cannot_write(read_only_api):
    assert read_only_api.get(URL).status_code == 200
    response = read_only_api.post(URL, {"external_id": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "type": "permission",
        "code": "permission_denied",
        "message": "This API key lacks the `write` scope.",
        "field": None,
    }


def test_key_is_stored_hashed_and_last_use_recorded(api, api_key):
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.hashed_key == hashlib.sha256(api_key.raw.encode()).hexdigest()
    assert api_key.raw not in str(ApiKey.objects.values().get(pk=api_key.pk))
    assert stored.last_used_at is None
    api.get(URL)
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is not None


def test_create_api_key_command_prints_only_the_key(capsys):
    call_command("create_api_key", "crm", "--scopes", "read")
    raw = capsys.readouterr().out.strip()
    assert raw.startswith("sk_")
    assert "\n" not in raw
    key = ApiKey.objects.get(name="crm")
    assert key.scopes == ["read"]
    assert key.hashed_key == hashlib.sha256(raw.encode()).hexdigest()


def test_create_api_key_command_rejects_unknown_scope():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Scopes"):
        call_command("create_api_key", "crm", "--scopes", "admin")
    assert not ApiKey.objects.exists()
