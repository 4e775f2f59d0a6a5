"""API rate limits (api/throttling.py): per key and scope, per address for failed
authentications, 429 in the error format with Retry-After, on the access check's fast view
too, shared between processes on Redis, and over real HTTP."""

import http.client
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings

from api import throttling
from api.services import api_key_create, api_key_revoke
from api.tests.schema_check import StrictAPIClient, served_schema
from api.throttling import parse_rate, rate_limit_hit
from billing.tests import factories
from provisioning.services import accounts
from provisioning.services.entitlements import entitlements_sync
from provisioning.tests.entitlement_helpers import AT, Catalog, subscribe

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 3, 1, 14, 0, 15, tzinfo=UTC)  # 45 s before a minute's window ends
FAST, FULL = "/api/v1/access/check", "/api/v1/access/check/"


@pytest.fixture(params=["locmem", "redis"])
def shared_cache(request, settings):
    """Run on the local-memory cache and on Redis (whose counting is written apart)."""
    if request.param == "redis":
        settings.CACHES = redis_caches()
    return request.param


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def client(raw_key: str | None = None, **extra) -> StrictAPIClient:
    api = StrictAPIClient(**extra)
    if raw_key is not None:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return api


def new_key(name="k", scopes=("read", "write")) -> str:
    return api_key_create(name=name, scopes=list(scopes))[1]


def assert_429(response, code: str, retry_after: int | None = None) -> None:
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"], error["field"]) == ("rate_limit", code, None)
    assert "Expected available in" in error["message"]
    assert int(response["Retry-After"]) >= 1
    if retry_after is not None:
        assert response["Retry-After"] == str(retry_after)


# --- Settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("6000/min", (6000, 60)),
        ("30/minute", (30, 60)),
        ("5/s", (5, 1)),
        ("100/10s", (100, 10)),
        ("2/ 5 minutes", (2, 300)),
        ("1000/hour", (1000, 3600)),
        ("9/d", (9, 86400)),
        ("", None),
        ("off", None),
        ("OFF", None),
        (None, None),
    ],
)
def test_a_limit_is_a_count_per_period_or_off(text, parsed):
    assert parse_rate(text) == parsed


@pytest.mark.parametrize("text", ["6000", "0/min", "5/0s", "5/fortnight", "-1/min", "x/min"])
def test_a_malformed_limit_is_refused(text):
    with pytest.raises(ImproperlyConfigured, match="<count>/<period>"):
        parse_rate(text)


def test_the_defaults_are_on():
    from django.conf import settings

    assert parse_rate(settings.API_RATE_LIMIT) == (6000, 60)
    assert parse_rate(settings.API_USAGE_RATE_LIMIT) == (30000, 60)
    assert parse_rate(settings.API_ACCESS_CHECK_RATE_LIMIT) == (60000, 60)
    assert parse_rate(settings.API_AUTH_FAILURE_RATE_LIMIT) == (30, 60)


# --- Per key ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_key_over_its_limit_gets_429_until_the_window_ends(settings, clock, shared_cache):
    settings.API_RATE_LIMIT = "3/min"
    key, other = client(new_key()), client(new_key())
    for _ in range(3):
        assert key.get("/api/v1/customers/").status_code == 200
    assert_429(key.get("/api/v1/customers/"), "rate_limited", retry_after=45)
    assert_429(key.post("/api/v1/customers/", {}, format="json"), "rate_limited")
    assert "at most 3 in a minute" in key.get("/api/v1/plans/").json()["error"]["message"]
    assert other.get("/api/v1/customers/").status_code == 200  # its own counter

    clock.shift(44)
    assert_429(key.get("/api/v1/customers/"), "rate_limited", retry_after=1)
    clock.shift(1)  # the next window
    assert key.get("/api/v1/customers/").status_code == 200


@pytest.mark.django_db
def test_an_unauthenticated_or_refused_request_is_not_counted_against_a_key(settings, clock):
    settings.API_RATE_LIMIT = "2/min"
    raw = new_key(scopes=["write"])
    for _ in range(5):
        assert client(raw).get("/api/v1/customers/").status_code == 403  # before throttles
        assert client().get("/api/v1/customers/").status_code == 401
    assert client(raw).post("/api/v1/customers/", {}, format="json").status_code == 400


@pytest.mark.django_db
def test_off_means_no_limit(settings, clock):
    settings.API_RATE_LIMIT = "off"
    key = client(new_key())
    for _ in range(20):
        assert key.get("/api/v1/customers/").status_code == 200


EVENT = {"transaction_id": "t-1", "code": "calls", "subscription": "nope"}


@pytest.mark.django_db
def test_usage_ingestion_has_its_own_limit_and_counter(settings, clock):
    settings.API_RATE_LIMIT, settings.API_USAGE_RATE_LIMIT = "2/min", "3/min"
    key = client(new_key())
    event = {**EVENT, "timestamp": NOW.isoformat()}
    assert key.post("/api/v1/events/", event, format="json").status_code == 400  # counted
    assert key.post("/api/v1/events/", event, format="json").status_code == 400
    batch = key.post("/api/v1/events/batch/", {"events": [event]}, format="json")
    assert batch.status_code == 200
    assert_429(key.post("/api/v1/events/", event, format="json"), "rate_limited", 45)
    assert_429(key.post("/api/v1/events/batch/", {"events": []}, format="json"), "rate_limited")
    # The rest of the API, reading an event back included, counts apart.
    assert key.get("/api/v1/events/t-1/").status_code == 404
    assert key.get("/api/v1/customers/").status_code == 200
    assert_429(key.get("/api/v1/customers/"), "rate_limited")
    assert_429(key.post("/api/v1/events/", event, format="json"), "rate_limited")


# --- The access check, fast view and DRF view --------------------------------------------


@pytest.fixture
def acme(db):
    cat = Catalog()
    customer = factories.customer("acme")
    subscribe(customer, cat.basic, at=AT)
    accounts.account_activate(customer=customer, at=AT)
    entitlements_sync(customer=customer, at=AT)
    return customer


def check(path: str, raw: str, body=None, **extra):
    data = json.dumps(body or {"customer": "acme", "feature": "sso"})
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}", **extra}
    return Client().post(path, data=data, content_type="application/json", **headers)


def same(a, b) -> None:
    assert (a.status_code, a.content) == (b.status_code, b.content)
    assert {k: v for k, v in a.items() if k != "Date"} == {
        k: v for k, v in b.items() if k != "Date"
    }


@pytest.mark.django_db
def test_the_access_check_counts_its_own_limit_on_the_fast_and_the_drf_view(
    settings, clock, shared_cache, acme
):
    settings.API_RATE_LIMIT, settings.API_ACCESS_CHECK_RATE_LIMIT = "1/min", "3/min"
    raw = new_key()
    with mock.patch("provisioning.api.access_fast._full_view", side_effect=AssertionError):
        assert check(FAST, raw).status_code == 200  # answered by the fast view
        assert check(FAST, raw).status_code == 200
    assert check(FULL, raw).status_code == 200  # the same counter: 3
    fast, full = check(FAST, raw), check(FULL, raw)
    assert_429(fast, "rate_limited", retry_after=45)
    same(fast, full)  # the fast view hands over; the DRF view words the 429
    assert client(raw).get("/api/v1/customers/").status_code == 200  # the API's own counter
    assert check(FAST, new_key()).status_code == 200  # another key


@pytest.mark.django_db
def test_a_request_the_fast_view_hands_over_is_counted_once(settings, clock, shared_cache, acme):
    settings.API_ACCESS_CHECK_RATE_LIMIT = "3/min"
    raw = new_key()
    nobody = {"customer": "nobody", "feature": "sso"}  # counted, then the DRF view's 400
    for _ in range(3):
        assert check(FAST, raw, nobody).status_code == 400
    assert_429(check(FAST, raw, nobody), "rate_limited")
    assert_429(check(FAST, raw), "rate_limited")


# --- Failed authentication per address -----------------------------------------------------


@pytest.mark.django_db
def test_failed_authentications_from_an_address_are_limited_before_the_key_is_looked_up(
    settings, clock, shared_cache, acme
):
    settings.API_AUTH_FAILURE_RATE_LIMIT = "5/min"
    valid = new_key()
    gone, revoked = api_key_create(name="gone", scopes=["read"])
    api_key_revoke(api_key=gone, at=NOW)
    for _ in range(10):  # valid keys and no key at all count nothing
        assert client(valid).get("/api/v1/customers/").status_code == 200
        assert client().get("/api/v1/customers/").status_code == 401
    failures = [client("sk_guess_1"), client(revoked), client("sk_guess_2")]
    failures.append(StrictAPIClient(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz"))  # malformed
    failures.append(client("sk_guess_3"))
    for api in failures:
        assert api.get("/api/v1/customers/").status_code == 401
    assert_429(
        client("sk_guess_4").get("/api/v1/customers/"), "too_many_failed_authentications", 45
    )
    # Now a valid key from that address is not looked up either: a guess that hits one
    # cannot be told from a miss. On both access-check views as well.
    assert_429(client(valid).get("/api/v1/customers/"), "too_many_failed_authentications")
    with (
        mock.patch("api.auth.api_key_active", side_effect=AssertionError),
        mock.patch("provisioning.api.access_fast.api_key_active", side_effect=AssertionError),
    ):
        fast, full = check(FAST, valid), check(FULL, valid)
    assert_429(fast, "too_many_failed_authentications", 45)
    same(fast, full)
    # Another address is not affected; the window's end lifts the block.
    assert client(valid, REMOTE_ADDR="192.0.2.9").get("/api/v1/customers/").status_code == 200
    assert client("sk_x", REMOTE_ADDR="192.0.2.9").get("/api/v1/customers/").status_code == 401
    clock.shift(45)
    assert client(valid).get("/api/v1/customers/").status_code == 200


@pytest.mark.django_db
def test_behind_a_proxy_the_real_client_is_counted(settings, clock):
    settings.API_AUTH_FAILURE_RATE_LIMIT, settings.TRUSTED_PROXY_COUNT = "3/min", 1
    valid = new_key()

    def via_proxy(raw, forwarded):  # the proxy (10.0.0.1) appended the client's address
        return client(raw, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    for n in range(3):  # what the client writes itself (left of the proxy's entry) is ignored
        assert (
            via_proxy("sk_guess", f"203.0.113.{n}, 198.51.100.7")
            .get("/api/v1/customers/")
            .status_code
            == 401
        )
    assert_429(
        via_proxy("sk_guess", "198.51.100.7").get("/api/v1/customers/"),
        "too_many_failed_authentications",
    )
    assert_429(
        via_proxy(valid, "1.1.1.1, 198.51.100.7").get("/api/v1/customers/"),
        "too_many_failed_authentications",
    )
    # Another client behind the same proxy is not blocked.
    assert via_proxy(valid, "198.51.100.8").get("/api/v1/customers/").status_code == 200
    assert via_proxy("sk_guess", "198.51.100.8").get("/api/v1/customers/").status_code == 401


@pytest.mark.django_db
def test_an_ipv6_client_is_counted_by_its_64_prefix(settings, clock):
    settings.API_AUTH_FAILURE_RATE_LIMIT = "2/min"
    for host in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        response = client("sk_guess", REMOTE_ADDR=host).get("/api/v1/customers/")
        assert response.status_code == 401
    blocked = client("sk_guess", REMOTE_ADDR="2001:db8:1:2::7").get("/api/v1/customers/")
    assert_429(blocked, "too_many_failed_authentications")
    other = client("sk_guess", REMOTE_ADDR="2001:db8:1:3::1").get("/api/v1/customers/")
    assert other.status_code == 401


@pytest.mark.django_db
def test_the_auth_failure_limit_can_be_turned_off(settings, clock):
    settings.API_AUTH_FAILURE_RATE_LIMIT = ""
    for _ in range(40):
        assert client("sk_guess").get("/api/v1/customers/").status_code == 401


# --- The schema ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_operation_declares_429_with_retry_after():
    paths = served_schema()["paths"]
    operations = [op for item in paths.values() for m, op in item.items() if m != "parameters"]
    assert len(operations) > 100
    for operation in operations:
        answer = operation["responses"]["429"]
        assert answer["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
        assert answer["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


# --- Shared between processes (Redis) ------------------------------------------------------

REDIS_URL = os.environ.get("THROTTLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

COUNTER = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from django.test import override_settings
    from api import throttling
    caches, namespace, ident, hits = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with override_settings(CACHES=__import__("json").loads(caches)):
        throttling._namespace = namespace
        print("ready", flush=True)
        sys.stdin.readline()  # go
        allowed = sum(throttling.rate_limit_hit("api", ident) is None for _ in range(hits))
        print(allowed, flush=True)
    """
)


def redis_caches() -> dict:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"test-throttling-{uuid.uuid4().hex}"  # apart from anything else in that Redis
    backend = "django.core.cache.backends.redis.RedisCache"
    return {"default": {"BACKEND": backend, "LOCATION": REDIS_URL, "KEY_PREFIX": prefix}}


@pytest.mark.django_db
def test_two_processes_count_one_limit_on_redis(settings):
    caches = redis_caches()
    settings.API_RATE_LIMIT = "600/hour"
    if 3600 - time.time() % 3600 < 60:  # not across an hour's window edge
        time.sleep(3600 - time.time() % 3600 + 1)
    key, raw = api_key_create(name="shared", scopes=["read"])
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"}
    env["API_RATE_LIMIT"] = "600/hour"
    with override_settings(CACHES=caches):
        other = subprocess.Popen(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", COUNTER, json.dumps(caches), throttling._namespace]
            + [key.hashed_key, "400"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert other.stdout.readline().strip() == "ready"
            other.stdin.write("go\n")
            other.stdin.flush()
            here = sum(rate_limit_hit("api", key.hashed_key) is None for _ in range(400))
            there = int(other.stdout.readline())
        finally:
            other.stdin.close()
            other.wait(30)
        assert other.returncode == 0
        assert here + there == 600  # no count lost to the other process, none given twice
        assert min(here, there) >= 200  # each asked for 400
        response = client(raw).get("/api/v1/customers/")
        assert_429(response, "rate_limited")
        assert 1 <= int(response["Retry-After"]) <= 3600


# --- Over real HTTP ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_300_guessed_keys_over_http_get_429_after_the_limit(settings, live_server):
    settings.API_AUTH_FAILURE_RATE_LIMIT = "30/min"
    valid = new_key()
    start = datetime.now(UTC).replace(second=1, microsecond=0)  # a minute's window to spare
    url = urlsplit(live_server.url)
    statuses, last = [], None
    with time_machine.travel(start, tick=True):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        for n in range(300):
            token = f"sk_{uuid.uuid4().hex}{n}"
            conn.request("GET", "/api/v1/customers/", headers={"Authorization": f"Bearer {token}"})
            last = conn.getresponse()
            body = json.loads(last.read())
            statuses.append(last.status)
            if last.status == 429:
                assert body["error"]["type"] == "rate_limit"
                assert body["error"]["code"] == "too_many_failed_authentications"
                assert 1 <= int(last.getheader("Retry-After")) <= 59
        conn.request("GET", "/api/v1/customers/", headers={"Authorization": f"Bearer {valid}"})
        blocked = conn.getresponse()
        blocked.read()
        conn.close()
    assert statuses == [401] * 30 + [429] * 270
    assert blocked.status == 429
