"""deploy/nginx.conf in front of gunicorn (config/gunicorn.py): valid, passes https on to the
app (HSTS, no redirect loop), closes requests for other host names, and keeps the app
answering while more clients trickle their headers in than gunicorn has threads. Needs nginx
and openssl (`apt-get install nginx-light`); skipped without them."""

import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest

from config.tests.processes import ROOT, free_port, gunicorn

pytestmark = pytest.mark.skipif(
    not (shutil.which("nginx") and shutil.which("openssl")), reason="needs nginx and openssl"
)

HOST = "billing.example.com"
CLIENT_TLS = ssl.create_default_context()
CLIENT_TLS.check_hostname = False
CLIENT_TLS.verify_mode = ssl.CERT_NONE


def nginx_conf(tmp_path, app_port, http_port, https_port) -> str:
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/fullchain.pem", str(tmp_path / "cert.pem"), site)
    site = re.sub(r"/etc/letsencrypt/live/[^;]*/privkey.pem", str(tmp_path / "key.pem"), site)
    site = site.replace("127.0.0.1:8000", f"127.0.0.1:{app_port}")
    site = site.replace("listen 80", f"listen 127.0.0.1:{http_port}")
    site = site.replace("listen 443", f"listen 127.0.0.1:{https_port}")
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    return f"""
daemon off;
pid {tmp_path / "nginx.pid"};
error_log {tmp_path / "nginx-error.log"};
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
{site}
}}
"""


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("nginx")
    tmp_path.chmod(0o755)  # nginx's workers may run as another user
    subprocess.run(  # noqa: S603
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]  # noqa: S607
        + ["-subj", f"/CN={HOST}", "-keyout", str(tmp_path / "key.pem")]
        + ["-out", str(tmp_path / "cert.pem")],
        check=True,
        capture_output=True,
    )
    app_variables = {"ALLOWED_HOSTS": HOST, "HTTPS": "true", "TRUSTED_PROXY_COUNT": "1"}
    app_variables |= {"WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "8"}
    with gunicorn(tmp_path_factory.mktemp("app"), **app_variables) as app:
        http_port, https_port = free_port(), free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(nginx_conf(tmp_path, app.port, http_port, https_port))
        nginx = ["nginx", "-c", str(conf), "-p", str(tmp_path)]
        tested = subprocess.run([*nginx, "-t"], capture_output=True, text=True)  # noqa: S603
        assert tested.returncode == 0, tested.stderr
        process = subprocess.Popen(nginx, stderr=subprocess.DEVNULL)  # noqa: S603
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield {"http": http_port, "https": https_port}
        finally:
            process.terminate()
            process.wait(timeout=30)


def tls_connection(port: int) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return CLIENT_TLS.wrap_socket(sock, server_hostname=HOST)


def get(sock, path="/no/such/page/", host=HOST) -> bytes:
    with sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def test_https_reaches_the_app_as_https(proxy):
    answer = get(tls_connection(proxy["https"]))
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"Strict-Transport-Security: max-age=31536000; includeSubDomains; preload" in answer


def test_plain_http_is_sent_to_https(proxy):
    answer = get(socket.create_connection(("127.0.0.1", proxy["http"]), timeout=30), "/x")
    assert answer.startswith(b"HTTP/1.1 301")
    assert f"Location: https://{HOST}/x".encode() in answer


def test_other_host_names_get_no_answer(proxy):
    sock = socket.create_connection(("127.0.0.1", proxy["http"]), timeout=30)
    assert get(sock, host="evil.example") == b""


def test_more_trickling_clients_than_app_threads(proxy):
    stop = threading.Event()

    def trickle(sock):
        try:
            sock.sendall(f"GET / HTTP/1.1\r\nHost: {HOST}\r\n".encode())
            while not stop.wait(0.5):
                sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass

    slow = [tls_connection(proxy["https"]) for _ in range(40)]  # gunicorn has 2 x 8 threads
    threads = [threading.Thread(target=trickle, args=(sock,), daemon=True) for sock in slow]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        for _ in range(3):
            started = time.monotonic()
            assert get(tls_connection(proxy["https"])).startswith(b"HTTP/1.1 404")
            assert time.monotonic() - started < 5
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for sock in slow:
            sock.close()
