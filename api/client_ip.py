"""The client's address as the web server saw it, through a known number of proxies.

Behind `TRUSTED_PROXY_COUNT` proxies (nginx, a load balancer) each appends the address it
received the request from to `X-Forwarded-For`, so the client is the Nth entry from the
right; anything further left was written by the client and is not believed. With 0 (the
default, no proxy) the header is ignored and `REMOTE_ADDR` is the client. Used by the
sign-in lockouts (django-axes) and the API's failed-authentication limit.
"""

import ipaddress

from django.conf import settings


def _address(text: str) -> str | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_ip(request) -> str:
    """The client's IP address (a string, "" when none can be told)."""
    remote = _address(request.META.get("REMOTE_ADDR", "")) or ""
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if proxies <= 0:
        return remote
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:  # fewer hops than proxies: not through them all
        return remote
    return _address(hops[-proxies]) or remote
