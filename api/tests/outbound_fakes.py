"""Test doubles for api/outbound.py: a fake resolver (no DNS, no internet), a recorder of
where sockets connect (only loopback is really dialled), a real local HTTP(S) server, and
the SSRF table of URLs that must be refused. Used by api/tests and provisioning/tests."""

import ipaddress
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from api import outbound

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"

# Names the fake resolver knows, and what they resolve to.
NAMES = {
    "localhost": ["127.0.0.1", "::1"],
    "public.example.test": [PUBLIC_V4],
    "public6.example.test": [PUBLIC_V6],
    "metadata.example.test": ["169.254.169.254"],
    "loopback.example.test": ["127.0.0.1"],
    "loopback6.example.test": ["::1"],
    "private.example.test": ["10.0.0.7"],
    "mapped.example.test": ["::ffff:127.0.0.1"],
    "ula.example.test": ["fd00::1"],
    "mixed.example.test": [PUBLIC_V4, "192.168.1.10"],  # every address is checked
}

# Every URL here is refused when saved and when called (the SSRF table of issue 14).
REFUSED = [
    "http://127.0.0.1/",
    "http://127.0.0.1:5432/",
    "http://127.9.9.9/",
    "http://localhost/",
    "http://LOCALHOST./admin",
    "http://api.localhost/",
    "http://[::1]/",
    "http://[::1]:8000/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://2130706433/",  # 127.0.0.1 in decimal
    "http://017700000001/",  # in octal
    "http://0x7f000001/",  # in hex
    "http://0177.0.0.1/",
    "http://0x7f.1/",
    "http://127.1/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://100.64.0.1/",  # shared (carrier-grade NAT)
    "http://224.0.0.1/",
    "http://239.255.255.250:1900/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",  # reserved
    "http://255.255.255.255/",
    "http://192.0.2.1/",  # documentation (not global)
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/",  # ::ffff:169.254.169.254
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[fc00::1]/",  # unique-local
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",  # site-local
    "http://metadata.example.test/latest/meta-data/",
    "http://loopback.example.test/",
    "http://loopback6.example.test/",
    "http://private.example.test/",
    "http://mapped.example.test/",
    "http://ula.example.test/",
    "http://mixed.example.test/",
    "http://user:secret@public.example.test/",  # user info
    "http://public.example.test@127.0.0.1/",
    "ftp://public.example.test/",
    "file:///etc/passwd",
    "gopher://public.example.test/",
]
ACCEPTED = [
    f"http://{PUBLIC_V4}/hook",
    "https://public.example.test/hooks?x=1",
    "https://public6.example.test/",
    f"http://[{PUBLIC_V6}]:8443/",
]


class FakeDNS:
    """Replaces socket.getaddrinfo: answers from `names` (a list of answers per name is
    used in turn, the last one from then on), refuses every other name."""

    def __init__(self):
        self.names: dict[str, list[list[str]]] = {k: [v] for k, v in NAMES.items()}
        self.calls: list[str] = []

    def set(self, host: str, *answers: list[str]) -> None:
        self.names[host] = list(answers)

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):  # noqa: A002
        self.calls.append(host)
        answers = self.names.get(str(host).lower().rstrip("."))
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        ips = answers.pop(0) if len(answers) > 1 else answers[0]
        result = []
        for ip in ips:
            if ipaddress.ip_address(ip).version == 4:
                result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
            else:
                result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
        return result


class Connections:
    """Wraps outbound._connect: records every (address, port) dialled; only loopback is
    really connected, anything else is refused here (the tests never reach the internet)."""

    def __init__(self, real):
        self.real, self.made = real, []

    def __call__(self, family, sockaddr, timeout):
        self.made.append((sockaddr[0], sockaddr[1]))
        if not ipaddress.ip_address(sockaddr[0]).is_loopback:
            raise ConnectionRefusedError(f"test: not dialling {sockaddr[0]}")
        return self.real(family, sockaddr, timeout)


def install(monkeypatch) -> tuple[FakeDNS, Connections]:
    dns, connections = FakeDNS(), Connections(outbound._connect)
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    monkeypatch.setattr(outbound, "_connect", connections)
    return dns, connections


@dataclass
class Seen:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class LocalServer:
    """A real HTTP(S) server on 127.0.0.1: /redirect answers 302 to the metadata address,
    /big 10 KB, /drip and /slowbody drip their headers or body, anything else 200 "ok"; it
    keeps what it received and, over TLS, the SNI."""

    httpd: ThreadingHTTPServer
    scheme: str = "http"
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def local_server(tls: tuple[Path, Path] | None = None) -> LocalServer:
    state: LocalServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            state.seen.append(
                Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            )
            if self.path.startswith(("/drip", "/slowbody")):
                self._drip()
                return
            if self.path.startswith("/redirect"):
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            answer = b"x" * 10240 if self.path.startswith("/big") else b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def _drip(self):
            """Headers (or the body) a byte every 0.1 s, for 5 s: never too slow for one
            read's timeout, far too slow for the call's."""
            try:
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                if self.path.startswith("/slowbody"):
                    self.wfile.write(b"Content-Length: 50\r\n\r\n")
                else:
                    self.wfile.write(b"X-Slow: ")
                for _ in range(50):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

        do_GET = do_POST = _answer  # noqa: N815 - http.server's names

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = LocalServer(httpd=httpd)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls[0]), str(tls[1]))
        context.sni_callback = lambda sock, name, ctx: state.sni.append(name)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        state.scheme = "https"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return state


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for `name` and its key, made with the openssl command."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - openssl from PATH
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
