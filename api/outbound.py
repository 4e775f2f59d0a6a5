"""The one HTTP client for URLs that someone else chose (webhook endpoints, provisioning
steps): no request to this machine, its network or a cloud metadata service (SSRF).

`outbound_url_check(url)` runs when such a URL is saved; `outbound_request(...)` runs at
every call and checks again. A URL is refused (`OutboundRefused`, code `url_not_allowed`)
unless its scheme is http or https, it has no user info, and every address its host resolves
to is public: not loopback, private, link-local (169.254.0.0/16: cloud metadata), multicast,
unspecified, reserved, shared (100.64.0.0/10), site-local or unique-local IPv6, nor an IPv6
address embedding one of those (IPv4-mapped, NAT64, 6to4). An IPv4 address must be written
as a.b.c.d: "2130706433", "0177.0.0.1", "0x7f.1" and "127.1" are refused whatever they mean.

The request connects to an address that was just checked (the connection is pinned to it),
while the Host header, TLS SNI and the certificate check use the URL's host name: a DNS
answer that changes between the check and the connection (rebinding) cannot redirect the
call. Redirects are never followed (a 3xx is the answer); no proxy from the environment is
used; at most `max_body` bytes of the answer are read.

`settings.OUTBOUND_ALLOWED_HOSTS` (env OUTBOUND_ALLOWED_HOSTS, default empty) names what may
be private in a self-hosted setup: host names (exact, case-insensitive: "erp.internal") and
IP addresses or networks ("10.0.0.5", "10.1.0.0/16", "::1"). Nothing else is ever allowed.
"""

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from api.errors import DomainError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT
NAT64 = ipaddress.ip_network("64:ff9b::/96")
DEFAULT_PORTS = {"http": 80, "https": 443}


class OutboundRefused(DomainError):
    """A URL we will not call: a 400 with code `url_not_allowed` where a URL is saved, a
    recorded error (no request) where a call was due."""

    default_code = "url_not_allowed"

    def __init__(self, message: str, *, field: str | None = "url"):
        super().__init__(message, code="url_not_allowed", field=field)


class OutboundError(OSError):
    """The destination answered something that is not HTTP (a protocol error)."""


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (`addresses`, empty when the name did not resolve
    and resolving was optional) and what to ask for."""

    scheme: str
    host: str
    port: int
    target: str  # path and query, sent in the request line
    addresses: tuple[tuple[int, tuple], ...] = field(default=())  # (family, sockaddr)


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: bytes  # at most max_body bytes
    location: str = ""  # of a redirect, which is not followed

    def text(self, limit: int | None = None) -> str:
        raw = self.body if limit is None else self.body[:limit]
        return raw.decode("utf-8", errors="replace").replace("\x00", "")


# Address rules
def address_refusal(ip: IPAddress) -> str | None:
    """Why `ip` may not be called ("a loopback address"), None for a public address."""
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = address_refusal(embedded)
            return f"an IPv6 address embedding {embedded}, {reason}" if reason else None
        if ip.scope_id:
            return "an IPv6 address with a zone"
    checks = [
        (ip.is_loopback, "a loopback"),
        (ip.is_unspecified, "an unspecified"),
        (ip.is_link_local, "a link-local"),
        (ip.is_multicast, "a multicast"),
        (ip.version == 4 and ip in SHARED, "a shared (carrier-grade NAT)"),
        (ip.version == 6 and ip.is_site_local, "a site-local"),
        (ip.is_reserved, "a reserved"),
        (ip.is_private, "a private"),
        (not ip.is_global, "not a public"),
    ]
    return next((f"{name} address" for hit, name in checks if hit), None)


def _allowed() -> tuple[set[str], list]:
    names, networks = set(), []
    for entry in getattr(settings, "OUTBOUND_ALLOWED_HOSTS", []) or []:
        entry = str(entry).strip().lower().strip("[]")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:  # a host name; one that is not valid is skipped
            try:
                names.add(entry.rstrip(".").encode("idna").decode("ascii"))
            except UnicodeError:
                continue
    return names, networks


def _allowed_address(ip: IPAddress, networks) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def _literal(host: str) -> IPAddress | None:
    """The address written as the host, or None for a name. A host whose last label is a
    number or hex ("2130706433", "0177.0.0.1", "0x7f.1", "127.1") is an IPv4 address in a
    form other than a.b.c.d (no top-level domain is numeric): refused, not interpreted."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    last = host.rsplit(".", 1)[-1].lower()
    if last.isdigit() or last.startswith("0x"):
        raise OutboundRefused(f"{host} is neither a host name nor an IP address written a.b.c.d.")
    return None


def _parse(url: str) -> tuple[str, str, int, str]:
    if not isinstance(url, str) or not url.strip():
        raise OutboundRefused("Enter an http:// or https:// URL.")
    if any(ord(c) < 33 or c == "\\" for c in url.strip()):
        raise OutboundRefused("The URL contains spaces, control characters or backslashes.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"Not a valid URL ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundRefused("Only http:// and https:// URLs can be called.")
    if "@" in parts.netloc:
        raise OutboundRefused("A URL with a user name or password is not allowed.")
    host = (parts.hostname or "").rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")  # bücher.example → xn--bcher-kva.example
    except UnicodeError:
        host = ""
    if not host or "%" in host:
        raise OutboundRefused("The URL has no valid host.")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or DEFAULT_PORTS[scheme], target


def _resolve(host: str, port: int) -> list[tuple[int, tuple]]:
    answers = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    seen, found = set(), []
    for family, _, _, _, sockaddr in answers:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr not in seen:
            seen.add(sockaddr)
            found.append((family, sockaddr))
    return found


def outbound_url_check(url: str, *, resolve: bool = True, required: bool = False) -> Destination:
    """The checked destination of `url`, or `OutboundRefused`. With `resolve`, the host
    name is looked up and every address it has must be allowed; a name that does not resolve
    is accepted (it is checked again at each call) unless `required` (at the call)."""
    scheme, host, port, target = _parse(url)
    names, networks = _allowed()
    named = host in names
    literal = _literal(host)
    if not named and (host == "localhost" or host.endswith(".localhost")):
        raise OutboundRefused(  # RFC 6761: always this machine, whatever DNS says
            f"{host} is this machine: calls there are not allowed "
            "(an operator can allow a host with OUTBOUND_ALLOWED_HOSTS)."
        )
    if literal is not None:
        family = socket.AF_INET if literal.version == 4 else socket.AF_INET6
        sockaddr = (str(literal), port) if literal.version == 4 else (str(literal), port, 0, 0)
        addresses = [(family, sockaddr)]
    elif not resolve:
        return Destination(scheme, host, port, target)
    else:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            if required:
                raise OSError(f"{host} could not be resolved ({exc}).") from None
            return Destination(scheme, host, port, target)
        if not addresses and required:
            raise OSError(f"{host} has no IPv4 or IPv6 address.")
    for _, sockaddr in addresses:
        ip = ipaddress.ip_address(sockaddr[0])
        if named or _allowed_address(ip, networks):
            continue
        reason = address_refusal(ip)
        if reason:
            where = host if literal is not None else f"{host} resolves to {ip}, which"
            raise OutboundRefused(
                f"{where} is {reason}: calls there are not allowed "
                "(an operator can allow a host with OUTBOUND_ALLOWED_HOSTS)."
            )
    return Destination(scheme, host, port, target, tuple(addresses))


# The pinned connection
def _connect(family: int, sockaddr: tuple, timeout: float) -> socket.socket:
    """A TCP connection to exactly `sockaddr` (no name lookup)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _pinned(connection: http.client.HTTPConnection, destination: Destination) -> None:
    """Make `connection` connect to the checked addresses, in order, instead of looking
    its host up again."""

    def create_connection(address, timeout=None, source_address=None, **kwargs):
        last: OSError | None = None
        for family, sockaddr in destination.addresses:
            try:
                return _connect(family, sockaddr, timeout)
            except OSError as exc:
                last = exc
        raise last or OSError(f"{destination.host}: nothing to connect to.")

    connection._create_connection = create_connection


def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def outbound_request(
    method: str,
    url: str,
    *,
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    max_body: int = 2048,
) -> OutboundResponse:
    """Call `url` once and return its answer (any status, redirects included, the body cut
    at `max_body` bytes). Raises `OutboundRefused` (nothing was sent) or `OSError`
    (unreachable, timed out, not HTTP). `timeout` bounds the call after the name lookup:
    connecting, then waiting for and reading the answer (a receiver sending it slowly is cut
    off at the same deadline)."""
    destination = outbound_url_check(url, resolve=True, required=True)
    deadline = time.monotonic() + timeout
    cls = (
        http.client.HTTPSConnection if destination.scheme == "https" else http.client.HTTPConnection
    )
    kwargs = {"context": _ssl_context()} if destination.scheme == "https" else {}
    connection = cls(destination.host, destination.port, timeout=timeout, **kwargs)
    _pinned(connection, destination)
    data = body.encode() if isinstance(body, str) else body
    watchdog = _Watchdog(connection, timeout)
    try:
        connection.request(method.upper(), destination.target, body=data, headers=headers or {})
        _limit(connection, deadline)
        response = connection.getresponse()
        chunks, left = [], max(max_body, 0)
        while left > 0:
            _limit(connection, deadline)
            chunk = response.read1(min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if watchdog.fired:  # cut mid-answer: not a short answer
            raise TimeoutError("timed out")
        location = response.getheader("Location", "") or ""
        return OutboundResponse(response.status, b"".join(chunks), location[:500])
    except (OSError, http.client.HTTPException) as exc:
        if watchdog.fired:
            raise TimeoutError(f"timed out (no complete answer within {timeout:g} s)") from None
        if isinstance(exc, OSError):
            raise
        raise OutboundError(f"{exc.__class__.__name__}: {exc}") from None
    finally:
        watchdog.cancel()
        connection.close()


class _Watchdog:
    """Cuts the connection when the call's time is up, whatever it is waiting for (a
    receiver dripping its status line or headers a byte at a time included)."""

    def __init__(self, connection: http.client.HTTPConnection, timeout: float):
        self.connection, self.fired = connection, False
        self.timer = threading.Timer(timeout, self._cut)
        self.timer.daemon = True
        self.timer.start()

    def _cut(self) -> None:
        self.fired = True
        sock = self.connection.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self.timer.cancel()


def _limit(connection: http.client.HTTPConnection, deadline: float) -> None:
    """The next read waits at most until the call's deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out (no complete answer in time)")
    if connection.sock is not None:
        connection.sock.settimeout(left)
