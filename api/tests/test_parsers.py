"""The JSON parser: NUL characters are refused before any view sees them (PostgreSQL cannot
store them in text or JSON columns)."""

import pytest

from billing.models import UsageEvent

pytestmark = pytest.mark.django_db


def post_raw(api, body: str):
    return api.generic("POST", "/api/v1/events/batch/", body, content_type="application/json")


def test_a_nul_character_anywhere_is_a_400_that_stores_nothing(api):
    body = '{"events": [{"transaction_id": "t1", "subscription": "x", "code": "c", '
    for payload, field in [
        (body + '"properties": {"k": "a\\u0000b"}}]}', "events.0.properties.k"),
        (body + '"properties": {"\\u0000": 1}}]}', "events.0.properties"),
    ]:
        response = post_raw(api, payload)
        assert response.status_code == 400
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("null_characters_not_allowed", field)
    assert UsageEvent.objects.count() == 0


def test_an_escaped_backslash_before_u0000_is_ordinary_text(api):
    response = post_raw(api, '{"events": [], "note": "\\\\u0000"}')
    assert response.status_code != 500
    assert "null_characters" not in response.content.decode()
