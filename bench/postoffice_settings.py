"""Settings for the django-post-office side of the sending benchmark: mailcrm's settings plus
the ``post_office`` app, on a database of its own (the bench database's name + ``_po``), sending
through the SMTP sink named by BENCH_SMTP_PORT. Never used by the application itself."""

from mailcrm.env import env_int
from mailcrm.settings import *  # noqa: F403 (extends the project's settings)
from mailcrm.settings import DATABASES, INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "post_office"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES = {"default": {**DATABASES["default"], "NAME": f"{DATABASES['default']['NAME']}_po"}}

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = env_int("BENCH_SMTP_PORT", 25)
EMAIL_USE_TLS = False

POST_OFFICE = {
    "BACKENDS": {"default": "django.core.mail.backends.smtp.EmailBackend"},
    # Our batches are 500; post-office's default of 100 would fork its pool five times as
    # often. Its other settings keep their defaults (5 threads per process, log every send).
    "BATCH_SIZE": 500,
    "DEFAULT_PRIORITY": "medium",
    "MESSAGE_ID_ENABLED": True,
}
