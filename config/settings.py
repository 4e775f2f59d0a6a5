"""Settings, all from the environment (django-environ); defaults serve a laptop."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file's (ENV_FILE: another file, e.g.
# deploy/production.env.example filled in; a missing file is skipped).
environ.Env.read_env(env.str("ENV_FILE", default=str(BASE_DIR / ".env")), overwrite=False)

# Off unless asked for: `make run`, `make test` and the test runner set DEBUG=true.
DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env(
        "SECRET_KEY", default="dev-only-insecure-key-change-me-in-production-0123456789"
    )
else:
    SECRET_KEY = env("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50 or SECRET_KEY.startswith("dev-only"):
        raise ImproperlyConfigured(
            "Set SECRET_KEY to a random string of 50 or more characters (DEBUG is off), e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
        )
if DEBUG:
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
else:
    # No default with DEBUG off: the names this site is served under. ("*" would believe any
    # Host header, which password-reset links are built from: check --deploy flags it.)
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "Set ALLOWED_HOSTS to the host names this site is served under, comma-separated "
            "(DEBUG is off), e.g. ALLOWED_HOSTS=billing.example.com."
        )
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Proxies in front of the app (nginx, a load balancer) that append to X-Forwarded-For: the
# client's address is the entry this far from the right (api/client_ip.py); 0: no proxy.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# HTTPS: HTTPS=true turns on the usual group (redirect to https, Secure cookies, HSTS for a
# year with subdomains and preload); each setting has its own variable to override it.
HTTPS = env.bool("HTTPS", default=False)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=HTTPS)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=HTTPS)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=HTTPS)
# Behind proxies (TRUSTED_PROXY_COUNT > 0) the request is https when the proxy says so in
# X-Forwarded-Proto (the proxy must set it, replacing the client's); "none" turns it off.
_proxy_ssl_header = env(
    "SECURE_PROXY_SSL_HEADER", default="HTTP_X_FORWARDED_PROTO" if TRUSTED_PROXY_COUNT else ""
)
SECURE_PROXY_SSL_HEADER = (
    (_proxy_ssl_header, "https") if _proxy_ssl_header.lower() not in ("", "none") else None
)
# Django's defaults, settable too.
SECURE_REFERRER_POLICY = env("SECURE_REFERRER_POLICY", default="same-origin")
SECURE_CONTENT_TYPE_NOSNIFF = env.bool("SECURE_CONTENT_TYPE_NOSNIFF", default=True)
X_FRAME_OPTIONS = env("X_FRAME_OPTIONS", default="DENY")
SESSION_COOKIE_HTTPONLY = env.bool("SESSION_COOKIE_HTTPONLY", default=True)

INSTALLED_APPS = [
    "config.admin_site.StaffAdminConfig",  # django.contrib.admin, index grouped by job
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "djmoney",
    "django_q",
    "djstripe",
    "simple_history",
    "django_htmx",
    "csp",
    "axes",  # sign-in lockouts (block below)
    "import_export",  # admin exports of filtered lists (CSV, XLSX)
    # ours, lowest layer first
    "api",
    "catalog",
    "customers",
    "billing",
    "provisioning",
    "reports",
    "portal",
    "config",  # the deploy checks (config/checks.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.csp.PolicyMiddleware",  # Content-Security-Policy (block below)
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the 429 page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# Database: SQLite file by default, PostgreSQL via DATABASE_URL=postgres://...
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file-named test database so `pytest --reuse-db` keeps the (slow) dj-stripe migrations.
    DATABASES["default"]["TEST"] = {
        "NAME": env("SQLITE_TEST_NAME", default=str(BASE_DIR / "test_db.sqlite3"))
    }
    # IMMEDIATE: a transaction takes the write lock when it begins, so the web server and
    # the worker processes queue for it (`timeout` seconds) instead of failing with
    # "database is locked" when a read transaction later tries to write. WAL lets readers
    # go on while one writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve app static files without collectstatic
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="billing@example.com")
# Where customers reach this site (scheme and host): links in mails sent by the workers,
# e.g. "reveal your new API key at SITE_URL/portal/api-keys/".
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

LOGIN_URL = "/admin/login/"

# Sign-in lockouts (django-axes, portal/lockout.py) for the portal and the admin. Failures are
# kept in the database (shared by every process, listed in the admin) per username + client
# address (TRUSTED_PROXY_COUNT): SIGN_IN_FAILURE_LIMIT wrong passwords lock that pair, and
# SIGN_IN_ADDRESS_FAILURE_LIMIT failures over all usernames (spraying) lock the address, each
# until SIGN_IN_COOLOFF_MINUTES after the last failure. Locked out: 429 with Retry-After.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in
    "django.contrib.auth.backends.ModelBackend",
]
SIGN_IN_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=5)
SIGN_IN_ADDRESS_FAILURE_LIMIT = env.int("SIGN_IN_ADDRESS_FAILURE_LIMIT", default=30)
SIGN_IN_COOLOFF_MINUTES = env.int("SIGN_IN_COOLOFF_MINUTES", default=15)
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = "portal.lockout.sign_in_failure_limit"
AXES_COOLOFF_TIME = timedelta(minutes=SIGN_IN_COOLOFF_MINUTES)
AXES_CLIENT_IP_CALLABLE = "api.client_ip.client_ip"
AXES_USERNAME_CALLABLE = "portal.lockout.sign_in_username"
AXES_LOCKOUT_CALLABLE = "portal.lockout.locked_out_response"
AXES_RESET_ON_SUCCESS = True  # a successful sign-in clears that username's failures there
AXES_SENSITIVE_PARAMETERS = ["username"]  # logged as stars; the client address is logged
# Password-reset mails (portal): at most this many an hour per client address and per email,
# counted on the cache (shared through Redis when REDIS_URL is set); past them the page answers
# as usual but sends nothing.
PASSWORD_RESET_MAILS_PER_HOUR_PER_ADDRESS = env.int(
    "PASSWORD_RESET_MAILS_PER_HOUR_PER_ADDRESS", default=5
)
PASSWORD_RESET_MAILS_PER_HOUR_PER_EMAIL = env.int(
    "PASSWORD_RESET_MAILS_PER_HOUR_PER_EMAIL", default=3
)

# Session-backed messages: a new API key shown once must not travel in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Content-Security-Policy (django-csp) on every HTML page: scripts and styles from our own
# static files only (no inline code), plus what Stripe.js / Elements needs (its documented
# directives: docs.stripe.com/security/guide). Pages served over HTTPS also get
# upgrade-insecure-requests (config/csp.py). Swagger UI (/api/docs/) needs no exception.
_stripe_js = ["https://js.stripe.com", "https://*.js.stripe.com"]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", *_stripe_js, NONCE],
        "style-src": ["'self'", NONCE],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'", "https://api.stripe.com"],
        "frame-src": [*_stripe_js, "https://hooks.stripe.com"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Money
CURRENCIES = env.list("CURRENCIES", default=["USD", "EUR", "GBP", "JPY", "KWD", "CHF", "CAD"])
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", default="USD")

# API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.HasApiKeyScope"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.DecimalJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.ApiKeyRateThrottle"],
    "PAGE_SIZE": 50,
    "COERCE_DECIMAL_TO_STRING": True,
    # `?format=` is a parameter of the API's own (the journal export's csv|xero|quickbooks),
    # not DRF's renderer switch: the API answers JSON only.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Billing and provisioning API",
    "DESCRIPTION": "Integration API. Authenticate with `Authorization: Bearer <secret key>`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No "online validator" badge: an image from validator.swagger.io, which the
    # Content-Security-Policy refuses (and which would tell swagger.io the schema's address).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": "none"},
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "ENUM_NAME_OVERRIDES": {
        "PlanIntervalEnum": "catalog.models.Interval",
        "AddOnIntervalEnum": "catalog.models.AddOnInterval",
        "PlanStatusEnum": "catalog.models.PlanStatus",
        "FeatureKindEnum": "catalog.models.FeatureKind",
        "SubscriptionStatusEnum": "billing.models.SubscriptionStatus",
        "InvoiceStatusEnum": "billing.models.InvoiceStatus",
        "BillRunStatusEnum": "billing.invoicing.models.invoices.BillRunStatus",
        "InvoiceLineKindEnum": "billing.models.LineKind",
        "CouponKindEnum": "billing.models.CouponKind",
        "BalanceTransactionKindEnum": "billing.models.BalanceTransactionKind",
        "UsageAlertKindEnum": "billing.models.UsageAlertKind",
        "PaymentMethodKindEnum": "billing.models.MethodKind",
        "PaymentStatusEnum": "billing.models.PaymentStatus",
        "PaymentAttemptStatusEnum": "billing.models.AttemptStatus",
        "PaymentSourceEnum": "billing.models.PaymentSource",
        "RefundStatusEnum": "billing.models.RefundStatus",
        "PaymentMethodStatusEnum": "billing.models.PaymentMethodStatus",
        "ReasonEnum": "billing.models.CreditNoteReason",
        "AccessReasonEnum": "provisioning.services.access.AccessReason",
        "ErrorTypeEnum": "api.schema.ERROR_TYPES",
    },
}
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# API rate limits (api/throttling.py), counted on the cache below: "<count>/<period>"
# (second, minute, hour, day; "100/10s"), empty or "off" for none. Per API key, one counter
# each for the API, usage ingestion and the access check; failed authentications per client
# address (past it, a key from that address gets 429 before it is looked up).
API_RATE_LIMIT = env("API_RATE_LIMIT", default="6000/min")
API_USAGE_RATE_LIMIT = env("API_USAGE_RATE_LIMIT", default="30000/min")
API_ACCESS_CHECK_RATE_LIMIT = env("API_ACCESS_CHECK_RATE_LIMIT", default="60000/min")
API_AUTH_FAILURE_RATE_LIMIT = env("API_AUTH_FAILURE_RATE_LIMIT", default="30/min")

# Jobs (django-q2): ORM broker by default, Redis when REDIS_URL is set.
REDIS_URL = env("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "billing",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 300,
    "retry": 360,
    "max_attempts": 3,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=False),
    "orm": "default",
}
if REDIS_URL:
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL
# The cache (password-reset mail limits, the access check's second level): shared by every
# process through Redis when REDIS_URL is set, else one per process.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Stripe (dj-stripe)
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", default="")
STRIPE_TEST_PUBLIC_KEY = env("STRIPE_TEST_PUBLIC_KEY", default="")
STRIPE_LIVE_PUBLIC_KEY = env("STRIPE_LIVE_PUBLIC_KEY", default="")
STRIPE_API_VERSION = env("STRIPE_API_VERSION", default="2026-05-27.dahlia")
if env("STRIPE_API_HOST", default=""):
    STRIPE_API_HOST = env("STRIPE_API_HOST")
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_WEBHOOK_VALIDATION = env("DJSTRIPE_WEBHOOK_VALIDATION", default="verify_signature")
# A Stripe webhook request with a larger body is refused (413) before dj-stripe stores it;
# a refused (invalid) one is stored cut to 4 KB (billing/payments/gateways/
# stripe_webhook_bounds.py).
STRIPE_WEBHOOK_MAX_BODY_BYTES = env.int("STRIPE_WEBHOOK_MAX_BODY_BYTES", default=512 * 1024)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "null": {"class": "logging.NullHandler"},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # failures and lockouts; not each sign-in's bookkeeping
        # A request with a Host not in ALLOWED_HOSTS (scanners, all day long) is answered 400;
        # no traceback in the log and no mail to ADMIN_EMAILS for each.
        "django.security.DisallowedHost": {"handlers": ["null"], "propagate": False},
    },
}

# Billing
INVOICE_DRAFT_GRACE_HOURS = env.int("INVOICE_DRAFT_GRACE_HOURS", default=1)
INVOICE_DUE_DAYS = env.int("INVOICE_DUE_DAYS", default=14)
# A new subscription whose first automatic charge failed stays `incomplete` this long.
SUBSCRIPTION_INCOMPLETE_HOURS = env.int("SUBSCRIPTION_INCOMPLETE_HOURS", default=23)
# A queued or running bill run without a heartbeat for this long is `abandoned` (resumable);
# a queued run's task works this many seconds, then requeues it (below Q_CLUSTER timeout).
BILL_RUN_STALE_MINUTES = env.int("BILL_RUN_STALE_MINUTES", default=15)
BILL_RUN_TASK_SECONDS = env.int("BILL_RUN_TASK_SECONDS", default=120)
# Usage events may carry a timestamp at most this far ahead of the server's clock.
USAGE_FUTURE_TOLERANCE_SECONDS = env.int("USAGE_FUTURE_TOLERANCE_SECONDS", default=300)

# Payments
# Fraud checks before every charge (billing.payments.services.fraud); a check that fires holds the
# payment for review. Amount limits: per currency, [customer age in days, largest charge].
PAYMENT_FRAUD = {
    "attempts_per_customer_per_hour": env.int("FRAUD_ATTEMPTS_PER_CUSTOMER_PER_HOUR", default=10),
    "attempts_per_card_per_hour": env.int("FRAUD_ATTEMPTS_PER_CARD_PER_HOUR", default=5),
    "amount_limits": {
        "USD": [[7, "1000"], [30, "5000"]],
        "EUR": [[7, "1000"], [30, "5000"]],
        "GBP": [[7, "800"], [30, "4000"]],
        "CHF": [[7, "1000"], [30, "5000"]],
        "CAD": [[7, "1300"], [30, "6500"]],
        "JPY": [[7, "150000"], [30, "750000"]],
        "KWD": [[7, "300"], [30, "1500"]],
    },
    "check_card_country": env.bool("FRAUD_CHECK_CARD_COUNTRY", default=True),
    "radar_block_levels": ["highest"],
}
# A charge with no answer (timeout) is asked about again after this many seconds.
PAYMENT_UNKNOWN_RESOLVE_AFTER_SECONDS = env.int("PAYMENT_UNKNOWN_RESOLVE_AFTER_SECONDS", default=60)
# Expiring-card reminders: cards expiring within this many days.
PAYMENT_METHOD_EXPIRY_NOTICE_DAYS = env.int("PAYMENT_METHOD_EXPIRY_NOTICE_DAYS", default=30)
# Prefix of the idempotency keys sent to gateways: give each installation sharing one
# gateway account (staging, production) its own.
PAYMENT_IDEMPOTENCY_PREFIX = env("PAYMENT_IDEMPOTENCY_PREFIX", default="")

# Provisioning
# Tasks queued (by dotted path) after a transaction that recorded billing events commits: the
# fast path of the consumers of the event log (their schedules are the safety net).
BILLING_EVENT_CONSUMERS = env.list(
    "BILLING_EVENT_CONSUMERS",
    default=[
        "provisioning.tasks.billing_events_consume_task",
        "provisioning.tasks_webhooks.webhooks_fan_out_task",
        "reports.tasks.reports_events_consume_task",
        "billing.notices.tasks.notices_events_consume_task",
    ],
)
# Days between a cancellation taking effect and the customer's access being withdrawn.
PROVISIONING_DEPROVISION_GRACE_DAYS = env.int("PROVISIONING_DEPROVISION_GRACE_DAYS", default=7)
# A subscription change's database steps (account, entitlements) run in the process that made
# it, right after its commit; outside calls (HTTP, emails) stay with the worker.
PROVISIONING_SYNC_ON_COMMIT = env.bool("PROVISIONING_SYNC_ON_COMMIT", default=True)
# Finished webhook deliveries and drift audit runs older than this are deleted nightly.
PROVISIONING_WEBHOOK_RETENTION_DAYS = env.int("PROVISIONING_WEBHOOK_RETENTION_DAYS", default=30)
PROVISIONING_AUDIT_RETENTION_DAYS = env.int("PROVISIONING_AUDIT_RETENTION_DAYS", default=90)

# Outbound requests (webhooks, provisioning steps; api/outbound.py) never go to loopback,
# private, link-local (cloud metadata) or other non-public addresses, except these host names
# or IPs/networks a self-hosted setup names: OUTBOUND_ALLOWED_HOSTS=erp.internal,10.0.0.0/24
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])

# Who gets operational alerts (a webhook endpoint disabled, errors): ADMIN_EMAILS=a@x,b@y
ADMINS = [("Operations", email) for email in env.list("ADMIN_EMAILS", default=[])]
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)

# Tax (billing/tax). VAT_VALIDATION: "vies" asks the EU's VIES service (a customer whose check
# is pending has its invoices held as drafts); "checksum" trusts syntax and check digits.
VAT_VALIDATION = env("VAT_VALIDATION", default="checksum" if DEBUG else "vies")
VIES_BASE_URL = env("VIES_BASE_URL", default="https://ec.europa.eu/taxation_customs/vies/rest-api")
VIES_TIMEOUT = env.float("VIES_TIMEOUT", default=5.0)
# TAX_ENGINE: "builtin" (the dated tables in billing/tax/rates.csv) or "stripe_tax" (Stripe
# Tax's calculations API at TAX_ENGINE_URL with TAX_ENGINE_KEY).
TAX_ENGINE = env("TAX_ENGINE", default="builtin")
TAX_ENGINE_URL = env("TAX_ENGINE_URL", default="https://api.stripe.com")
TAX_ENGINE_KEY = env("TAX_ENGINE_KEY", default="")
TAX_ENGINE_TIMEOUT = env.float("TAX_ENGINE_TIMEOUT", default=10.0)
