"""API rate limits, counted on the shared cache (Redis when REDIS_URL is set, so every worker
process counts together; one count per process on the local-memory cache).

- Per API key, one counter per scope: `api` (API_RATE_LIMIT), `usage` (event ingestion,
  API_USAGE_RATE_LIMIT) and `access_check` (API_ACCESS_CHECK_RATE_LIMIT, also counted by
  the access check's fast view). Over the limit: 429 `rate_limited`. A key is counted by
  its stored hash rather than its id, so the fast view can count before looking it up.
- Per client address (`api.client_ip`, IPv6 by /64), failed authentications (an unknown,
  revoked or malformed key): once over API_AUTH_FAILURE_RATE_LIMIT, every request from the
  address that presents a key gets 429 `too_many_failed_authentications` before the key is
  looked up, so the answer never tells a guessed key from a valid one, until the window ends.

A limit is `"<count>/<period>"`, the period `second`, `minute`, `hour` or `day` (`s`, `min`,
`h`, `d`), optionally with a number (`"100/10s"`); empty or `off` turns it off. Counts are
kept in fixed windows aligned on the period (a burst at a window's edge may reach twice
the limit); `Retry-After` is the time to the window's end.

DRF's own `SimpleRateThrottle` keeps a list of every request's time per key and writes it
back whole on each request (at 6,000 a minute, a 6,000-float pickle per request, and two
processes overwrite each other's counts), so `allow_request` here counts with one atomic
increment instead: one round trip on Redis.
"""

import ipaddress
import re
import time
import uuid
from functools import lru_cache

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from rest_framework import exceptions, throttling

from api.client_ip import client_ip
from api.models import ApiKey

SCOPE_SETTINGS = {
    "api": "API_RATE_LIMIT",
    "usage": "API_USAGE_RATE_LIMIT",
    "access_check": "API_ACCESS_CHECK_RATE_LIMIT",
    "auth_failure": "API_AUTH_FAILURE_RATE_LIMIT",
}
UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
UNITS |= {"h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_RATE = re.compile(r"(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?")
_namespace = "throttle"
COUNTED = "_api_rate_limit_counted"  # set on the request by the access check's fast view


@lru_cache(maxsize=64)
def parse_rate(text: str | None) -> tuple[int, int] | None:
    """`"6000/min"` → (6000, 60): requests and window seconds; None for no limit."""
    text = (text or "").strip().lower()
    if text in ("", "off", "none"):
        return None
    match = _RATE.fullmatch(text)
    unit = UNITS.get(match.group(3)) if match else None
    if unit is None or int(match.group(1)) < 1 or match.group(2) == "0":
        raise ImproperlyConfigured(
            f"Rate limit {text!r}: write <count>/<period> (e.g. 6000/min, 30/10s) or off."
        )
    return int(match.group(1)), unit * int(match.group(2) or 1)


def scope_rate(scope: str) -> tuple[int, int] | None:
    return parse_rate(getattr(settings, SCOPE_SETTINGS[scope], None))


def throttle_counters_reset() -> None:
    """Start every counter of this process afresh (tests): later counts use new cache keys,
    the old ones expire with their window. Nothing else in the cache is touched."""
    global _namespace
    _namespace = f"throttle-{uuid.uuid4().hex[:8]}"


def _window(scope: str, ident, period: int, now: float) -> tuple[str, float]:
    """The cache key of the current window and the seconds until it ends."""
    index = int(now // period)
    return f"{_namespace}:{scope}:{ident}:{period}:{index}", (index + 1) * period - now


def _redis(cache: RedisCache):
    """One redis-py client per cache object: Django's RedisCache makes a new one (≈0.3 ms of
    CPU here) on every call, which the access check cannot afford twice a request."""
    client = cache.__dict__.get("_throttle_client")
    if client is None:
        client = cache.__dict__["_throttle_client"] = cache._cache.get_client(write=True)
    return client


def _count(key: str) -> int:
    """The counter `key`, 0 when there is none."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        return int(_redis(cache).get(cache.make_and_validate_key(key)) or 0)
    return cache.get(key) or 0


def _increment(key: str, timeout: int) -> int:
    """Add one to the counter `key` (made with `timeout`) and return it: atomic, and one
    round trip on Redis (Django's `incr` asks whether the key exists first)."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        key = cache.make_and_validate_key(key)
        pipe = _redis(cache).pipeline(transaction=False)
        pipe.set(key, 0, ex=timeout, nx=True)
        pipe.incr(key)
        return pipe.execute()[1]
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet in this window
        if cache.add(key, 1, timeout):
            return 1
        return cache.incr(key)


def rate_limit_hit(scope: str, ident) -> float | None:
    """Count one request of `ident` (an API key's hash) in `scope`; None when it is within
    the limit, else the seconds until the window ends."""
    rate = scope_rate(scope)
    if rate is None:
        return None
    limit, period = rate
    key, wait = _window(scope, ident, period, time.time())
    return wait if _increment(key, period + 1) > limit else None


def _address(request) -> str:
    """The client's address; an IPv6 client by its /64 (one host usually has all of it)."""
    ip = client_ip(request)
    if ":" in ip:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False).network_address) + "/64"
    return ip or "unknown"


def auth_failures_check(request) -> None:
    """429 when the client's address is over its limit of failed authentications."""
    rate = scope_rate("auth_failure")
    if rate is None:
        return
    limit, period = rate
    key, wait = _window("auth_failure", _address(request), period, time.time())
    if _count(key) >= limit:
        raise exceptions.Throttled(
            wait,
            "Too many failed authentications from this address.",
            code="too_many_failed_authentications",
        )


def auth_failure_count(request) -> None:
    """Count one failed authentication against the client's address."""
    rate = scope_rate("auth_failure")
    if rate is not None:
        _limit, period = rate
        key, _wait = _window("auth_failure", _address(request), period, time.time())
        _increment(key, period + 1)


def rate_limit_count_once(request, scope: str, ident) -> float | None:
    """`rate_limit_hit`, remembered on the request: when the access check's fast view has
    counted it already, the DRF view it hands the request to reuses that count."""
    counted = getattr(request, COUNTED, None)
    if counted is not None and counted[0] == (scope, ident):
        return counted[1]
    wait = rate_limit_hit(scope, ident)
    setattr(request, COUNTED, ((scope, ident), wait))
    return wait


def access_check_gate(request, ident: str) -> bool:
    """For the access check's fast view, before the key is looked up (`ident`: the hash of
    the key presented): False when the client's address is over its failed-authentication
    limit or the key over its access-check limit (the DRF view then answers the 429). Counts
    the request for the key, remembered on the request; both in one round trip on Redis."""
    failure_rate, rate = scope_rate("auth_failure"), scope_rate("access_check")
    if failure_rate is None and rate is None:
        return True
    now = time.time()
    fail_key = failure_rate and _window("auth_failure", _address(request), failure_rate[1], now)
    count_key = rate and _window("access_check", ident, rate[1], now)
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        pipe = _redis(cache).pipeline(transaction=False)
        if fail_key:
            pipe.get(cache.make_and_validate_key(fail_key[0]))
        if count_key:
            key = cache.make_and_validate_key(count_key[0])
            pipe.set(key, 0, ex=rate[1] + 1, nx=True)
            pipe.incr(key)
        results = pipe.execute()
        failures = int(results[0] or 0) if fail_key else 0
        count = results[-1] if count_key else 0
    else:
        failures = _count(fail_key[0]) if fail_key else 0
        count = _increment(count_key[0], rate[1] + 1) if count_key else 0
    over = bool(count_key) and count > rate[0]
    setattr(request, COUNTED, (("access_check", ident), count_key[1] if over else None))
    return not over and not (fail_key and failures >= failure_rate[0])


class ApiKeyRateThrottle(throttling.SimpleRateThrottle):
    """Requests per API key in the throttle's `scope` (its setting gives the limit); a
    request without a valid key is refused before throttles run, so it is not counted."""

    scope = "api"

    def get_rate(self):
        return getattr(settings, SCOPE_SETTINGS[self.scope], None)

    def parse_rate(self, rate):
        return parse_rate(rate) or (None, None)

    def get_cache_key(self, request, view):
        """The key's hash: the fast view can count it before looking the key up."""
        return request.auth.hashed_key if isinstance(request.auth, ApiKey) else None

    def allow_request(self, request, view):
        if self.num_requests is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        # DRF's Request forwards attributes to the Django request the fast view marked.
        wait = rate_limit_count_once(request, self.scope, ident)
        if wait is None:
            return True
        raise exceptions.Throttled(
            wait,
            f"Too many requests with this API key: at most {self.num_requests} in "
            f"{_period_text(self.duration)}.",
            code="rate_limited",
        )


def _period_text(seconds: int) -> str:
    for unit, name in ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second")):
        if seconds % unit == 0:
            count = seconds // unit
            return f"{count} {name}s" if count > 1 else f"a {name}"
    return f"{seconds} seconds"  # pragma: no cover - every whole number divides by 1


class UsageRateThrottle(ApiKeyRateThrottle):
    """Usage ingestion (`POST /events/`, `POST /events/batch/`): API_USAGE_RATE_LIMIT."""

    scope = "usage"


class AccessCheckRateThrottle(ApiKeyRateThrottle):
    """`POST /access/check`: API_ACCESS_CHECK_RATE_LIMIT."""

    scope = "access_check"
