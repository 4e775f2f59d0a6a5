"""gunicorn with config/gunicorn.py keeps answering while slow clients hold connections open.

Measured on a 2-core machine with 2 workers x 8 threads (what these tests start): 300
connections that send nothing delay a normal request by milliseconds (gunicorn's own 5 s
first-byte wait: over a minute; the sync workers: on 4). Clients that trickle their headers in
each hold a thread: fewer than one worker's threads (7 here) always leave room; 9 or more may
land on one worker and stall it, 16 stall both. That is the buffering proxy's job (README,
deploy/nginx.conf).
"""

import socket
import threading

import pytest

from config.tests.processes import gunicorn, http_get

WORKERS, THREADS = 2, 8
ANSWER_WITHIN = 5  # seconds; measured: a few milliseconds


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with gunicorn(
        tmp_path_factory.mktemp("gunicorn"),
        WEB_CONCURRENCY=str(WORKERS),
        GUNICORN_THREADS=str(THREADS),
    ) as started:
        yield started


def normal_request_seconds(port: int) -> float:
    status, _, _, seconds = http_get(port, "/no/such/page/", timeout=ANSWER_WITHIN + 30)
    assert status == 404
    return seconds


def test_connections_that_send_nothing(server):
    half_open = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    try:
        for _ in range(3):
            assert normal_request_seconds(server.port) < ANSWER_WITHIN
    finally:
        for sock in half_open:
            sock.close()


def test_clients_trickling_their_headers(server):
    stop = threading.Event()

    def trickle(sock: socket.socket):
        try:
            sock.sendall(b"GET /no/such/page/ HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while not stop.wait(0.5):
                sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass

    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(THREADS - 1)]
    threads = [threading.Thread(target=trickle, args=(sock,), daemon=True) for sock in slow]
    for thread in threads:
        thread.start()
    try:
        for _ in range(3):
            assert normal_request_seconds(server.port) < ANSWER_WITHIN
            stop.wait(1)
        assert all(thread.is_alive() for thread in threads)  # still trickling, still open
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for sock in slow:
            sock.close()
