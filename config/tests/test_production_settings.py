"""Production settings, in processes of their own with a clean environment (DEBUG unset):
refusing to start, `check --deploy` with the documented environment, the HTTPS switch, and
what a live server answers strangers."""

import json
import re
import time

import pytest

from config.tests.processes import (
    ROOT,
    clean_env,
    gunicorn,
    http_get,
    manage,
    new_secret_key,
    production_env_file_variables,
)


def test_no_secret_key_refuses_to_start(tmp_path):
    result = manage("check", env=clean_env(tmp_path, ALLOWED_HOSTS="billing.example.com"))
    assert result.returncode != 0
    assert "ImproperlyConfigured: Set SECRET_KEY to a random string of 50" in result.stderr


def test_short_secret_key_refuses_to_start(tmp_path):
    env = clean_env(tmp_path, SECRET_KEY="x" * 49, ALLOWED_HOSTS="billing.example.com")
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_no_allowed_hosts_refuses_to_start(tmp_path):
    result = manage("check", env=clean_env(tmp_path, SECRET_KEY=new_secret_key()))
    assert result.returncode != 0
    assert "ImproperlyConfigured: Set ALLOWED_HOSTS to the host names" in result.stderr


def test_documented_production_environment_passes_check_deploy(tmp_path):
    variables = production_env_file_variables()
    # The one value the operator must make up; every other line is used as written.
    assert [name for name, value in variables.items() if not value] == ["SECRET_KEY"]
    assert "DEBUG" not in variables
    variables["SECRET_KEY"] = new_secret_key()
    env = clean_env(tmp_path, **variables)
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_laptop_defaults_fail_check_deploy(tmp_path):
    """The same check without the documented settings names each one missing."""
    env = clean_env(tmp_path, SECRET_KEY=new_secret_key(), ALLOWED_HOSTS="*")
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    found = set(re.findall(r"\((\w+\.W\d+)\)", result.stderr + result.stdout))
    assert {"config.W001", "config.W002", "config.W003", "config.W004", "config.W005"} <= found
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= found


def test_readme_shows_the_documented_environment():
    readme = (ROOT / "README.md").read_text()
    assert "deploy/production.env.example" in readme
    for name in production_env_file_variables():
        assert f"`{name}`" in readme, name


def env_names_read(path):
    """Every environment variable a settings file reads (env("X"), env.int("X", …),
    os.environ.get("X"))."""
    source = path.read_text()
    return set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source)) | set(
        re.findall(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']""", source)
    )


def test_readme_lists_every_setting():
    readme = (ROOT / "README.md").read_text()
    names = env_names_read(ROOT / "config" / "settings.py") | env_names_read(
        ROOT / "config" / "gunicorn.py"
    )
    assert {"SECRET_KEY", "HTTPS", "GUNICORN_THREADS"} <= names  # the pattern finds them
    missing = sorted(name for name in names if not re.search(rf"`{name}\b", readme))
    assert not missing, f"not in README.md: {missing}"


SETTINGS_PROBE = """
import json
import django
from django.conf import settings
from django.test import Client

django.setup()
names = ["SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
         "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
         "SECURE_PROXY_SSL_HEADER", "SECURE_REFERRER_POLICY", "SECURE_CONTENT_TYPE_NOSNIFF",
         "X_FRAME_OPTIONS", "SESSION_COOKIE_HTTPONLY", "CSRF_TRUSTED_ORIGINS"]
client = Client(HTTP_HOST="billing.example.com")
plain = client.get("/nowhere/?next=/x")
proxied = client.get("/nowhere/", HTTP_X_FORWARDED_PROTO="https")
print(json.dumps({
    "settings": {name: getattr(settings, name) for name in names},
    "plain": [plain.status_code, plain.headers.get("Location")],
    "proxied": [proxied.status_code, proxied.headers.get("Strict-Transport-Security")],
}))
"""


def settings_probe(tmp_path, **variables):
    env = clean_env(
        tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings",
        SECRET_KEY=new_secret_key(),
        ALLOWED_HOSTS="billing.example.com",
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        **variables,
    )
    result = manage("shell", "-c", SETTINGS_PROBE, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_https_switch_turns_on_the_group(tmp_path):
    found = settings_probe(
        tmp_path, HTTPS="true", TRUSTED_PROXY_COUNT="1", CSRF_TRUSTED_ORIGINS="https://b.example"
    )
    assert found["settings"] == {
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_REFERRER_POLICY": "same-origin",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SESSION_COOKIE_HTTPONLY": True,
        "CSRF_TRUSTED_ORIGINS": ["https://b.example"],
    }
    # Plain http is sent to https; through the proxy's https the answer carries HSTS.
    assert found["plain"] == [301, "https://billing.example.com/nowhere/?next=/x"]
    assert found["proxied"] == [404, "max-age=31536000; includeSubDomains; preload"]


def test_https_settings_one_by_one(tmp_path):
    found = settings_probe(
        tmp_path,
        HTTPS="true",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="600",
        SECURE_HSTS_PRELOAD="false",
        SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_SCHEME",
        X_FRAME_OPTIONS="SAMEORIGIN",
    )
    assert found["settings"]["SECURE_SSL_REDIRECT"] is False
    assert found["settings"]["SESSION_COOKIE_SECURE"] is True
    assert found["settings"]["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_SCHEME", "https"]
    assert found["settings"]["X_FRAME_OPTIONS"] == "SAMEORIGIN"
    assert found["plain"] == [404, None]  # no redirect to https


def test_without_https_nothing_is_forced(tmp_path):
    found = settings_probe(tmp_path)
    assert found["settings"]["SECURE_SSL_REDIRECT"] is False
    assert found["settings"]["SESSION_COOKIE_SECURE"] is False
    assert found["settings"]["SECURE_HSTS_SECONDS"] == 0
    assert found["settings"]["SECURE_PROXY_SSL_HEADER"] is None  # no proxy, nothing believed
    assert found["proxied"] == [404, None]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with gunicorn(tmp_path_factory.mktemp("gunicorn")) as started:
        yield started


def test_live_unknown_url_is_a_short_404(server):
    status, headers, body, _ = http_get(server.port, "/no/such/page/")
    assert status == 404
    assert len(body) < 500
    text = body.decode()
    for leaked in ("URLconf", "admin/", "Traceback"):
        assert leaked not in text
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"


def test_live_unknown_api_url_is_a_short_json_404(server):
    status, headers, body, _ = http_get(server.port, "/api/v1/no-such-thing/")
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    assert len(body) < 500
    assert b"URLconf" not in body


def test_live_bogus_host_is_a_short_400(server):
    status, _, body, _ = http_get(server.port, "/", host="evil.example")
    assert status == 400
    assert len(body) < 500
    text = body.decode()
    for leaked in ("DisallowedHost", "ALLOWED_HOSTS", "SECRET", "settings", "Traceback"):
        assert leaked not in text
    # Nor a traceback in the log (nor a mail to the admins) for each such request.
    time.sleep(0.5)
    assert "DisallowedHost" not in server.log.read_text()
