"""api/outbound.py: the SSRF table refused at check and at call, public addresses accepted
and dialled as checked, DNS rebinding, redirects not followed, the allow-list, and a real
local HTTP(S) server reached through the pinned connection (Host and TLS name kept).
A fake resolver answers every name: these tests never use DNS or the internet."""

import ipaddress
import shutil
import ssl
import time

import pytest

from api import outbound
from api.outbound import OutboundRefused, outbound_request, outbound_url_check
from api.tests.outbound_fakes import (
    ACCEPTED,
    PUBLIC_V4,
    REFUSED,
    install,
    local_server,
    self_signed,
)


@pytest.fixture
def net(monkeypatch, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = []
    return install(monkeypatch)


@pytest.fixture
def server():
    state = local_server()
    yield state
    state.close()


# The SSRF table
@pytest.mark.parametrize("url", REFUSED)
def test_a_refused_url_is_refused_when_checked_and_when_called(net, url):
    dns, connections = net
    with pytest.raises(OutboundRefused) as checked:
        outbound_url_check(url)
    assert (checked.value.code, checked.value.field) == ("url_not_allowed", "url")
    with pytest.raises(OutboundRefused) as called:
        outbound_request("POST", url, body="{}", timeout=1)
    assert called.value.code == "url_not_allowed"
    assert connections.made == []  # nothing was dialled


@pytest.mark.parametrize("url", ACCEPTED)
def test_a_public_address_is_accepted_and_dialled_as_checked(net, url):
    dns, connections = net
    destination = outbound_url_check(url)
    assert destination.addresses
    with pytest.raises(ConnectionRefusedError):  # the recorder stops it: no internet
        outbound_request("GET", url, timeout=1)
    assert connections.made == [(destination.addresses[0][1][0], destination.port)]


def test_the_refusal_says_why():
    with pytest.raises(OutboundRefused) as error:
        outbound_url_check("http://169.254.169.254/latest/meta-data/")
    assert "link-local" in error.value.message
    assert "OUTBOUND_ALLOWED_HOSTS" in error.value.message
    with pytest.raises(OutboundRefused, match="a.b.c.d"):
        outbound_url_check("http://0x7f.1/")


def test_a_name_that_does_not_resolve_is_accepted_when_saved_but_not_called(net):
    assert outbound_url_check("https://unknown.example.test/x").addresses == ()
    with pytest.raises(OSError, match="could not be resolved"):
        outbound_request("POST", "https://unknown.example.test/x", timeout=1)
    assert net[1].made == []


def test_every_address_form_is_classified():
    refusal = outbound.address_refusal
    cases = {
        "127.0.0.1": "a loopback address",
        "10.0.0.1": "a private address",
        "169.254.169.254": "a link-local address",
        "100.64.0.1": "a shared (carrier-grade NAT) address",
        "224.0.0.251": "a multicast address",
        "0.0.0.0": "an unspecified address",  # noqa: S104 - a value under test
        "::": "an unspecified address",
        "240.0.0.1": "a reserved address",
        "fec0::1": "a site-local address",
        "fd00::1": "a private address",
        "::ffff:10.0.0.1": "an IPv6 address embedding 10.0.0.1, a private address",
    }
    for text, reason in cases.items():
        assert refusal(ipaddress.ip_address(text)) == reason, text
    for text in [PUBLIC_V4, "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1"]:
        assert refusal(ipaddress.ip_address(text)) is None, text


# DNS rebinding
def test_a_name_that_turns_private_after_it_was_saved_is_refused_at_the_call(net, server):
    dns, connections = net
    dns.set("rebind.example.test", [PUBLIC_V4], ["127.0.0.1"])
    url = f"http://rebind.example.test:{server.port}/hook"
    assert outbound_url_check(url).addresses  # saved: public then
    with pytest.raises(OutboundRefused, match="loopback"):
        outbound_request("POST", url, body="{}", timeout=1)
    assert connections.made == []
    assert server.seen == []


def test_the_connection_goes_to_the_checked_address_not_a_later_answer(net, server):
    """The resolver answers public once, then the local server's address: the request
    still dials the public address it checked (and never reaches the local server)."""
    dns, connections = net
    dns.set("rebind.example.test", [PUBLIC_V4], ["127.0.0.1"])
    url = f"http://rebind.example.test:{server.port}/hook"
    with pytest.raises(ConnectionRefusedError):
        outbound_request("POST", url, body="{}", timeout=1)
    assert connections.made == [(PUBLIC_V4, server.port)]
    assert dns.calls == ["rebind.example.test"]  # one lookup: checked and used
    assert server.seen == []


# The real local server, through the pinned connection
def test_a_named_private_host_in_the_allow_list_is_called_pinned(net, server, settings):
    dns, connections = net
    dns.set("erp.internal", ["127.0.0.1"])
    dns.set("other.internal", ["127.0.0.1"])
    settings.OUTBOUND_ALLOWED_HOSTS = ["ERP.internal"]
    answer = outbound_request(
        "POST",
        f"http://erp.internal:{server.port}/orders?x=1",
        body='{"a": 1}',
        headers={"Content-Type": "application/json", "Idempotency-Key": "k1"},
        timeout=2,
    )
    assert (answer.status, answer.text()) == (200, "ok")
    [seen] = server.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/orders?x=1", b'{"a": 1}')
    assert seen.headers["Host"] == f"erp.internal:{server.port}"  # the name, not the IP
    assert seen.headers["Idempotency-Key"] == "k1"
    assert connections.made == [("127.0.0.1", server.port)]
    with pytest.raises(OutboundRefused):  # only the named host
        outbound_request("POST", f"http://other.internal:{server.port}/", timeout=2)
    assert len(server.seen) == 1


def test_allowed_networks_let_their_addresses_through_and_nothing_else(net, server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.0/8", "::1"]
    with pytest.raises(OutboundRefused):
        outbound_request("GET", server.url("/"), timeout=2)
    assert outbound_url_check("http://10.20.30.40/").addresses
    assert outbound_url_check("http://[::1]:9/").addresses
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.0/8"]
    assert outbound_request("GET", server.url("/"), timeout=2).status == 200
    with pytest.raises(OutboundRefused):  # odd forms stay refused, allowed or not
        outbound_url_check(f"http://127.1:{server.port}/")


def test_a_redirect_is_an_answer_and_is_not_followed(net, server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    answer = outbound_request("POST", server.url("/redirect"), body="{}", timeout=2)
    assert answer.status == 302
    assert answer.location == "http://169.254.169.254/latest/meta-data/"
    assert len(server.seen) == 1
    assert net[1].made == [("127.0.0.1", server.port)]  # never the Location


def test_only_max_body_bytes_of_the_answer_are_read(net, server, settings):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    answer = outbound_request("GET", server.url("/big"), timeout=2, max_body=1024)
    assert (answer.status, len(answer.body)) == (200, 1024)


@pytest.mark.parametrize("path", ["/drip", "/slowbody"])
def test_a_receiver_dripping_its_answer_is_cut_off_at_the_timeout(net, server, settings, path):
    settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="timed out"):
        outbound_request("GET", server.url(path), timeout=0.8)
    assert 0.7 < time.monotonic() - started < 2  # the drip lasts 5 s


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_uses_the_host_name_for_sni_and_the_certificate(net, settings, tmp_path, monkeypatch):
    dns, connections = net
    cert, key = self_signed(tmp_path, "hooks.example.test")
    server = local_server(tls=(cert, key))
    try:
        dns.set("hooks.example.test", ["127.0.0.1"])
        dns.set("impostor.example.test", ["127.0.0.1"])
        settings.OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
        monkeypatch.setattr(
            outbound, "_ssl_context", lambda: ssl.create_default_context(cafile=str(cert))
        )
        answer = outbound_request("GET", server.url("/", host="hooks.example.test"), timeout=2)
        assert answer.status == 200
        assert server.sni == ["hooks.example.test"]
        assert connections.made == [("127.0.0.1", server.port)]
        with pytest.raises(ssl.SSLCertVerificationError):  # same address, other name
            outbound_request("GET", server.url("/", host="impostor.example.test"), timeout=2)
        assert len(server.seen) == 1
    finally:
        server.close()
