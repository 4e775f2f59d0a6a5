import pytest
from django.test import RequestFactory

from api.client_ip import client_ip


@pytest.mark.parametrize(
    ("proxies", "forwarded", "remote", "expected"),
    [
        (0, "6.6.6.6", "10.0.0.5", "10.0.0.5"),  # no proxy: the header is not believed
        (1, "203.0.113.7", "10.0.0.5", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "10.0.0.5", "203.0.113.7"),  # client-written entry ignored
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.9", "10.0.0.5", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.5", "10.0.0.5"),  # fewer hops than proxies
        (1, "not-an-ip", "10.0.0.5", "10.0.0.5"),
        (1, "[2001:db8::1]:443", "10.0.0.5", "2001:db8::1"),
        (1, "198.51.100.4:5678", "10.0.0.5", "198.51.100.4"),
    ],
)
def test_client_ip_counts_trusted_proxies_from_the_right(
    settings, proxies, forwarded, remote, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR=remote)
    assert client_ip(request) == expected
