"""`manage.py check --deploy` warnings for what Django's own checks do not see (ids config.W…).

Each is a production setting left at its laptop default; the README's production section and
deploy/production.env.example set them all.
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.security, deploy=True)
def check_shared_cache(app_configs, **kwargs):
    if settings.CACHES["default"]["BACKEND"] not in PER_PROCESS_CACHES:
        return []
    return [
        Warning(
            "The cache is kept per process (REDIS_URL is unset): API rate limits and "
            "password-reset mail limits are counted in each web process separately, so N "
            "processes allow N times as many.",
            hint="Set REDIS_URL (e.g. redis://127.0.0.1:6379/0), the same for every process.",
            id="config.W001",
        )
    ]


@register(Tags.database, deploy=True)
def check_database(app_configs, **kwargs):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return []
    return [
        Warning(
            "The database is SQLite: it takes no row locks (select_for_update), so concurrent "
            "bill runs, payments and workers are serialised only by its file lock.",
            hint="Set DATABASE_URL=postgres://user:password@host:5432/name.",
            id="config.W002",
        )
    ]


@register(Tags.security, deploy=True)
def check_allowed_hosts(app_configs, **kwargs):
    if not any(host == "*" for host in settings.ALLOWED_HOSTS):
        return []
    return [
        Warning(
            "ALLOWED_HOSTS contains '*': any Host header is believed, and links in emails "
            "(password resets, invitations) are built from it.",
            hint="List the host names this site is served under.",
            id="config.W003",
        )
    ]


@register(Tags.security, deploy=True)
def check_email(app_configs, **kwargs):
    if settings.EMAIL_BACKEND != "django.core.mail.backends.console.EmailBackend":
        return []
    return [
        Warning(
            "Emails are printed to the log (EMAIL_URL is unset): invoices, receipts and "
            "password-reset links end up there instead of with the customer.",
            hint="Set EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587.",
            id="config.W004",
        )
    ]


@register(Tags.security, deploy=True)
def check_site_url(app_configs, **kwargs):
    if not settings.SITE_URL.startswith(("http://127.0.0.1", "http://localhost")):
        return []
    return [
        Warning(
            f"SITE_URL is {settings.SITE_URL}: links in the mails the workers send (where to "
            "reveal a new API key) point there.",
            hint="Set SITE_URL to where customers reach this site, e.g. https://billing.example.com.",
            id="config.W005",
        )
    ]
