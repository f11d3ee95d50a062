"""Settings, read from environment variables once. No variable set gives the embedded mode:
SQLite under var/ and django-q2's ORM broker (ARCHITECTURE.md, "Configuration")."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mailcrm.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MAILCRM_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", default=not env_str("SECRET_KEY"))
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "development-only-secret-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["*"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
# Tracking, unsubscribe and preference hits per minute from one address (0 = unlimited).
PUBLIC_HITS_PER_MINUTE = env_int("PUBLIC_HITS_PER_MINUTE", 6000)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "django_htmx",
    "axes",
    "mailcrm",
    "contacts",
    "templates",
    "campaigns",
    "deliverability",
    "webhooks",
    "automations",
    "subscriptions",
    "privacy",
    "smtprelay",
]

MIDDLEWARE = [
    # First: lets tracking hits through on verified tracking domains (they cannot be listed in
    # ALLOWED_HOSTS), on the tracking paths only, before anything reads the host.
    "deliverability.middleware.TrackingHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response that has none of its own (the sandboxed
    # template previews set theirs); see CONTENT_SECURITY_POLICY below.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "mailcrm.dashboard.middleware.CurrentWorkspaceMiddleware",
    "mailcrm.audit.AuditActorMiddleware",  # names who acts on audit log entries
    "mailcrm.api.ratelimit_headers.RateLimitHeadersMiddleware",
    # Last, as django-axes asks: answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mailcrm.urls"
WSGI_APPLICATION = "mailcrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mailcrm.dashboard.context_processors.workspace",
                "csp.context_processors.nonce",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'mailcrm.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A web process and a worker write at once: WAL, IMMEDIATE transactions and a busy
    # timeout keep "database is locked" away (ARCHITECTURE.md, "Embedded mode").
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    raise ImproperlyConfigured("DATABASE_URL must be postgres://… or sqlite:///…")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and background work --------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    # Shared by every process on this machine, unlike the local-memory cache.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

Q_CLUSTER = {
    "name": "mailcrm",
    "workers": env_int("Q_WORKERS", 2),
    "timeout": 600,
    "retry": 720,
    "max_attempts": 3,
    "save_limit": -1,  # we keep our own send log; result saving costs a locking scan per task
    "catch_up": False,
    "label": "Background tasks",
    "sync": env_bool("Q_SYNC", False),
    # Outbound webhooks have a queue of their own, worked by a second cluster
    # (`Q_CLUSTER_NAME=webhooks manage.py qcluster`): a burst of events or a hanging
    # receiver never holds up sending.
    "ALT_CLUSTERS": {
        "webhooks": {"workers": env_int("Q_WEBHOOK_WORKERS", 2), "timeout": 60, "retry": 120},
    },
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "mailcrm.User"
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"
# django-axes first: it refuses a locked-out username+address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "mailcrm.login_attempts.LoginAttemptsBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- I18N and static ------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security (docs/deployment.md, "Security") ----------------------------------------------
# Proxies (IPs or CIDRs) whose X-Forwarded-For is believed; nobody else's is (mailcrm.client_ip).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
# "X-Forwarded-Proto: https" from the TLS-terminating proxy marks a request secure. Only when
# configured: without a proxy that always sets (or strips) the header, a client could send it.
if env_str("SECURE_PROXY_SSL_HEADER"):
    _proto_header, _, _proto_value = env_str("SECURE_PROXY_SSL_HEADER").partition(":")
    SECURE_PROXY_SSL_HEADER = (
        "HTTP_" + _proto_header.strip().upper().replace("-", "_").removeprefix("HTTP_"),
        _proto_value.strip() or "https",
    )
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Tracking hits arrive on customers' tracking domains, which may be served over plain HTTP
# until their certificate exists, and the TLS proxy asks /tls/ask over HTTP: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^t/", r"^t\.js$", r"^tls/ask$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SILENCED_SYSTEM_CHECKS = []
if not SECURE_HSTS_PRELOAD:
    # Preloading puts the domain in browsers' built-in HSTS lists, hard to undo: the operator's
    # decision (SECURE_HSTS_PRELOAD=1), not a default.
    SILENCED_SYSTEM_CHECKS.append("security.W021")

# Content security policy (django-csp): our own scripts and styles only, inline ones only with
# the request's nonce. Style attributes stay allowed (bar widths, indents computed in templates;
# every value is escaped). Images may come over HTTPS (email previews show the mail's images).
# CSP_REPORT_ONLY=1 sends the policy as Content-Security-Policy-Report-Only while trying it out.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

_CSP = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": [SELF, "data:", "https:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "frame-src": [SELF],
        "frame-ancestors": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
    }
}
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# Sign-in attempts (django-axes): after LOGIN_FAILURE_LIMIT failures for one username from one
# address, that pair is locked out for LOGIN_COOLOFF_MINUTES; the dashboard and admin sign-ins
# both count. The address is the one the rate limits use (TRUSTED_PROXIES).
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The sign-in forms (ours and the admin's) post the email as "username"; axes would otherwise
# look for the user model's USERNAME_FIELD ("email") and count every failure under no name.
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "mailcrm.client_ip.client_ip_for_axes"
AXES_LOCKOUT_CALLABLE = "mailcrm.dashboard.views.login_locked_out"
AXES_VERBOSE = False

_field_key = env_str("FIELD_ENCRYPTION_KEY")
if not _field_key:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set when DEBUG is off")
    _field_key = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
FIELD_ENCRYPTION_KEY = _field_key

# --- Email and integrations (used by the sending issues) ------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "campaigns.backends.CaptureBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# Messages a minute through the server-wide EMAIL_BACKEND, across every worker (0 = no limit).
EMAIL_RATE_PER_MINUTE = env_int("EMAIL_RATE_PER_MINUTE", 0)
# Seconds a scheduled campaign may be found past its send time and still start on its own;
# later (a database restored from a backup, workers down for hours) it is paused until an
# operator resumes it.
CAMPAIGN_SCHEDULE_GRACE = env_int("CAMPAIGN_SCHEDULE_GRACE", 3600)
DNS_NAMESERVERS = env_list("DNS_NAMESERVERS")
DNS_TIMEOUT = env_int("DNS_TIMEOUT", 3)  # seconds per lookup
# What sending domains publish: SPF authorises these (include: domains and ip4:/ip6: ranges),
# DMARC reports go to DMARC_REPORT_EMAIL, the return path is a CNAME to BOUNCE_DOMAIN.
SPF_INCLUDES = env_list("SPF_INCLUDES")
SPF_IPS = env_list("SPF_IPS")
DMARC_REPORT_EMAIL = env_str("DMARC_REPORT_EMAIL")
BOUNCE_DOMAIN = env_str("BOUNCE_DOMAIN")
# The SMTP submission relay (manage.py smtp_relay) and the bounce mailbox (manage.py
# bounce_listener, the MX of BOUNCE_DOMAIN). TLS: STARTTLS with the certificate and key, or
# implicit TLS (port 465 style) when SMTP_RELAY_IMPLICIT_TLS is on; AUTH only over TLS unless
# SMTP_RELAY_ALLOW_PLAINTEXT_AUTH (development).
SMTP_RELAY_HOST = env_str("SMTP_RELAY_HOST", "127.0.0.1")
SMTP_RELAY_PORT = env_int("SMTP_RELAY_PORT", 2525)
SMTP_RELAY_TLS_CERT = env_str("SMTP_RELAY_TLS_CERT")
SMTP_RELAY_TLS_KEY = env_str("SMTP_RELAY_TLS_KEY")
SMTP_RELAY_IMPLICIT_TLS = env_bool("SMTP_RELAY_IMPLICIT_TLS", False)
SMTP_RELAY_ALLOW_PLAINTEXT_AUTH = env_bool("SMTP_RELAY_ALLOW_PLAINTEXT_AUTH", False)
SMTP_RELAY_MAX_BYTES = env_int("SMTP_RELAY_MAX_BYTES", 25 * 1024 * 1024)
SMTP_RELAY_RATE_PER_MINUTE = env_int("SMTP_RELAY_RATE_PER_MINUTE", 600)  # per credential; 0 = off
# What GET /customer/smtp tells clients to connect to (default: PUBLIC_BASE_URL's host).
SMTP_RELAY_PUBLIC_HOST = env_str("SMTP_RELAY_PUBLIC_HOST")
SMTP_RELAY_PUBLIC_PORT = env_int("SMTP_RELAY_PUBLIC_PORT", SMTP_RELAY_PORT)
BOUNCE_LISTENER_HOST = env_str("BOUNCE_LISTENER_HOST", "127.0.0.1")
BOUNCE_LISTENER_PORT = env_int("BOUNCE_LISTENER_PORT", 2526)
# Tracking domains are CNAMEs to this host (default: PUBLIC_BASE_URL's host).
TRACKING_CNAME_TARGET = env_str("TRACKING_CNAME_TARGET")
WEBHOOK_ALLOW_PRIVATE_TARGETS = env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
# Inbound ESP events (/webhooks/anymail/…): the basic-auth "user:password" every ESP posts with
# (comma-separated while rotating: each one is accepted), and the ESPs' own signing keys.
ANYMAIL = {"WEBHOOK_SECRET": env_list("ANYMAIL_WEBHOOK_SECRET")}
for _name in (
    "MAILGUN_WEBHOOK_SIGNING_KEY",
    "POSTAL_WEBHOOK_KEY",
    "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY",
):
    if env_str(f"ANYMAIL_{_name}"):
        ANYMAIL[_name] = env_str(f"ANYMAIL_{_name}")

# --- REST API -------------------------------------------------------------------------------
# Requests a minute per API key, on top of the workspace's plan limit (0: only the workspace's).
API_RATE_LIMIT_PER_KEY = env_int("API_RATE_LIMIT_PER_KEY", 0)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["mailcrm.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": [
        "mailcrm.api.permissions.HasWorkspaceKey",
        # The key's scope (full access, sending only, read only) on every route.
        "mailcrm.api.scopes.KeyScopePermission",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "mailcrm.api.throttling.WorkspaceRateThrottle",
        "mailcrm.api.throttling.KeyRateThrottle",
    ],
    "DEFAULT_PAGINATION_CLASS": "mailcrm.api.pagination.KeysetPagination",
    "DEFAULT_FILTER_BACKENDS": ["mailcrm.filters.StrictFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "mailcrm.api.schema.MailcrmAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # An unknown ?format= is a 400 naming the view's formats, not DRF's undocumented 404.
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "mailcrm.api.negotiation.FormatNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "mailcrm.api.parsers.StrictTextJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "mailcrm.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "mailcrm API",
    "DESCRIPTION": "Contacts, audiences, sending and deliverability. Authenticate: `X-API-Key`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our static files, nothing fetched from a CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "BearerAuth": {"type": "http", "scheme": "bearer"},
        }
    },
    "SECURITY": [{"ApiKeyAuth": []}, {"BearerAuth": []}],
    # Several models have a "status"; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "ContactStatusEnum": "contacts.models.ContactStatus",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "MessageStatusEnum": "campaigns.models.MessageStatus",
        "JobStatusEnum": "contacts.models.JobStatus",
        "SuppressionTypeEnum": "deliverability.models.SuppressionType",
        "HealthMetricStatusEnum": "deliverability.api.health.STATUSES",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mailcrm.api.schema.form_empty_values",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "mailcrm": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
        "django_q": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    },
}
