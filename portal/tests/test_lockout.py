"""Sign-in lockouts (django-axes: portal/lockout.py) on the portal and the admin, across
processes and behind a proxy, and the password-reset mail limits."""

import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client

from portal.tests.helpers import PASSWORD

LOGIN = "/portal/login/"
ADMIN_LOGIN = "/admin/login/"
RESET = "/portal/password-reset/"
WRONG = "not-the-password"  # noqa: S105 - a wrong password
HERE = "203.0.113.10"
ELSEWHERE = "198.51.100.20"


@pytest.fixture(autouse=True)
def empty_cache():
    """The reset-mail counters live in the cache, which outlives a test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def login(django_user_model):
    """`login(email)`: a user who signs in with that email and PASSWORD."""

    def make(email: str, **extra):
        return django_user_model.objects.create_user(email, email=email, password=PASSWORD, **extra)

    return make


def sign_in(client: Client, email: str, password: str = PASSWORD, url: str = LOGIN):
    return client.post(url, {"username": email, "password": password})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def without_csrf(page: bytes) -> str:
    return re.sub(r"[A-Za-z0-9]{64}", "TOKEN", page.decode())


def test_five_wrong_passwords_lock_that_email_at_that_address_only(login):
    login("ann@example.com")
    login("bob@example.com")
    attacker = Client(REMOTE_ADDR=HERE)
    for _ in range(4):
        response = sign_in(attacker, "ann@example.com", WRONG)
        assert response.status_code == 200
        assert "Please enter a correct" in response.content.decode()
    response = sign_in(attacker, "ann@example.com", WRONG)  # the fifth
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    page = response.content.decode()
    assert "Too many sign-in attempts" in page
    assert "Try again in 15 minutes" in page
    assert "Customer portal" in page  # the portal's own page
    assert "ann@example.com" not in page
    # The right password is refused too, for a quarter of an hour.
    assert sign_in(attacker, "ann@example.com").status_code == 429
    assert not signed_in(attacker)
    # Ann from elsewhere, and Bob from the same address, are not locked out.
    ann = Client(REMOTE_ADDR=ELSEWHERE)
    response = sign_in(ann, "ann@example.com")
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert signed_in(ann)
    bob = Client(REMOTE_ADDR=HERE)
    assert sign_in(bob, "bob@example.com").status_code == 302
    assert signed_in(bob)


def test_the_lockout_page_does_not_tell_whether_the_account_exists(login):
    login("ann@example.com")
    pages = []
    for email in ("ann@example.com", "nobody@example.com"):
        client = Client(REMOTE_ADDR=HERE)
        answers = [sign_in(client, email, WRONG) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 4 + [429] * 2
        pages.append(without_csrf(answers[-1].content))
    assert pages[0] == pages[1]


def test_a_username_differing_in_case_or_spaces_counts_as_the_same(login):
    login("ann@example.com")
    client = Client(REMOTE_ADDR=HERE)
    for typed in ("ann@example.com", "ANN@example.com", " Ann@Example.com", "ann@EXAMPLE.com"):
        assert sign_in(client, typed, WRONG).status_code == 200
    assert sign_in(client, "aNn@example.com ", WRONG).status_code == 429


def test_spraying_many_accounts_from_one_address_locks_that_address(login):
    login("ann@example.com")
    sprayer = Client(REMOTE_ADDR=HERE)
    # One guess each at 29 accounts: under every per-account limit...
    for n in range(29):
        assert sign_in(sprayer, f"user{n}@example.com", WRONG).status_code == 200
    # ...but the address's 30th failure locks it, for every account.
    assert sign_in(sprayer, "user29@example.com", WRONG).status_code == 429
    assert sign_in(sprayer, "ann@example.com").status_code == 429
    assert not signed_in(sprayer)
    # Ann from another address still signs in.
    ann = Client(REMOTE_ADDR=ELSEWHERE)
    assert sign_in(ann, "ann@example.com").status_code == 302


def test_the_limits_come_from_settings(login, settings):
    settings.SIGN_IN_FAILURE_LIMIT = 2
    settings.SIGN_IN_ADDRESS_FAILURE_LIMIT = 3
    login("ann@example.com")
    client = Client(REMOTE_ADDR=HERE)
    assert sign_in(client, "ann@example.com", WRONG).status_code == 200
    assert sign_in(client, "ann@example.com", WRONG).status_code == 429
    other = Client(REMOTE_ADDR=ELSEWHERE)
    assert sign_in(other, "x@example.com", WRONG).status_code == 200
    assert sign_in(other, "y@example.com", WRONG).status_code == 200
    assert sign_in(other, "z@example.com", WRONG).status_code == 429


def test_a_successful_sign_in_clears_that_accounts_failures_there(login):
    login("ann@example.com")
    client = Client(REMOTE_ADDR=HERE)
    for _ in range(4):
        assert sign_in(client, "ann@example.com", WRONG).status_code == 200
    assert sign_in(client, "ann@example.com").status_code == 302
    client.post("/portal/logout/")
    for _ in range(4):
        assert sign_in(client, "ann@example.com", WRONG).status_code == 200
    assert sign_in(client, "ann@example.com").status_code == 302


def test_the_admin_sign_in_locks_out_too(login):
    login("staff@example.com", is_staff=True, is_superuser=True)
    client = Client(REMOTE_ADDR=HERE)
    for _ in range(4):
        assert sign_in(client, "staff@example.com", WRONG, url=ADMIN_LOGIN).status_code == 200
    response = sign_in(client, "staff@example.com", WRONG, url=ADMIN_LOGIN)
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "Too many failed sign-ins. Try again in 15 minutes."
    assert sign_in(client, "staff@example.com", url=ADMIN_LOGIN).status_code == 429
    assert client.get("/admin/").status_code == 302  # not signed in
    elsewhere = Client(REMOTE_ADDR=ELSEWHERE)
    assert sign_in(elsewhere, "staff@example.com", url=ADMIN_LOGIN).status_code == 302
    assert elsewhere.get("/admin/").status_code == 200


def test_behind_one_proxy_the_client_is_locked_not_the_proxy(login, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    login("ann@example.com")
    proxy = "10.0.0.5"  # every request arrives from the proxy

    def through_proxy(forwarded_for: str) -> Client:
        return Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=forwarded_for)

    # The attacker also writes addresses of its own into the header: not believed.
    for n in range(5):
        attacker = through_proxy(f"192.0.2.{n}, 198.51.100.7")
        answer = sign_in(attacker, "ann@example.com", WRONG)
    assert answer.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    assert sign_in(through_proxy("198.51.100.7"), "ann@example.com").status_code == 429
    # Ann, through the same proxy from her own address, signs in.
    assert sign_in(through_proxy("198.51.100.8"), "ann@example.com").status_code == 302


def test_without_a_trusted_proxy_a_forged_forwarded_for_changes_nothing(login, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    login("ann@example.com")
    for n in range(5):
        attacker = Client(REMOTE_ADDR=HERE, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        answer = sign_in(attacker, "ann@example.com", WRONG)
    assert answer.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {HERE}


# --- across processes: the failures are in the database every worker shares


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def second_server(transactional_db, tmp_path):
    """`manage.py runserver` in another process on the test database: its base URL."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "DEBUG": "true"}
    log = (tmp_path / "runserver.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if process.poll() is not None:
                pytest.fail((tmp_path / "runserver.log").read_text())
            try:
                requests.get(f"{url}{LOGIN}", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def _http_sign_in(base: str, email: str, password: str) -> requests.Response:
    session = requests.Session()
    session.get(f"{base}{LOGIN}", timeout=10)
    return session.post(
        f"{base}{LOGIN}",
        data={
            "username": email,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
        timeout=10,
    )


def test_failures_counted_in_one_process_lock_out_in_another(live_server, second_server, login):
    """Three wrong passwords through this process's server and two through another
    process's: the fifth locks the pair out in both (a per-process count would allow 8)."""
    login("ann@example.com")
    for _ in range(3):
        assert _http_sign_in(live_server.url, "ann@example.com", WRONG).status_code == 200
    assert _http_sign_in(second_server, "ann@example.com", WRONG).status_code == 200
    assert _http_sign_in(second_server, "ann@example.com", WRONG).status_code == 429
    locked = _http_sign_in(live_server.url, "ann@example.com", PASSWORD)
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.text
    assert _http_sign_in(second_server, "ann@example.com", PASSWORD).status_code == 429
    assert AccessAttempt.objects.get().failures_since_start >= 5


# --- password-reset mails


def ask_reset(client: Client, email: str):
    response = client.post(RESET, {"email": email})
    assert response.status_code == 302
    assert response["Location"] == "/portal/password-reset/sent/"
    return response


def test_reset_mails_are_limited_per_email(login, caplog):
    login("ann@example.com")
    for n in range(3):
        ask_reset(Client(REMOTE_ADDR=f"192.0.2.{n}"), "ann@example.com")
    assert len(mail.outbox) == 3
    with caplog.at_level(logging.WARNING, logger="portal.views.auth"):
        ask_reset(Client(REMOTE_ADDR="192.0.2.99"), "Ann@Example.com")  # answered as usual
    assert len(mail.outbox) == 3  # but nothing sent
    assert "Password-reset mail not sent: hourly limit per email reached" in caplog.text
    assert "ann@example.com" not in caplog.text.lower()
    # Another account is not affected.
    login("bob@example.com")
    ask_reset(Client(REMOTE_ADDR="192.0.2.99"), "bob@example.com")
    assert mail.outbox[-1].to == ["bob@example.com"]


def test_reset_mails_are_limited_per_client_address(login, caplog):
    client = Client(REMOTE_ADDR=HERE)
    for n in range(5):
        login(f"user{n}@example.com")
        ask_reset(client, f"user{n}@example.com")
    assert len(mail.outbox) == 5
    login("user5@example.com")
    with caplog.at_level(logging.WARNING, logger="portal.views.auth"):
        ask_reset(client, "user5@example.com")
        ask_reset(client, "unknown@example.com")  # same answer for an unknown email
    assert len(mail.outbox) == 5
    assert f"hourly limit per client address reached (client {HERE})" in caplog.text
    # From another address the same account gets its mail.
    ask_reset(Client(REMOTE_ADDR=ELSEWHERE), "user5@example.com")
    assert len(mail.outbox) == 6
    assert mail.outbox[-1].to == ["user5@example.com"]


def test_reset_limits_come_from_settings(login, settings):
    settings.PASSWORD_RESET_MAILS_PER_HOUR_PER_EMAIL = 1
    login("ann@example.com")
    ask_reset(Client(REMOTE_ADDR=HERE), "ann@example.com")
    ask_reset(Client(REMOTE_ADDR=ELSEWHERE), "ann@example.com")
    assert len(mail.outbox) == 1
