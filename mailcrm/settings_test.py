"""Test settings: the environment decides the database and broker; tasks run synchronously."""

import os

os.environ.setdefault("Q_SYNC", "1")

from mailcrm.settings import *  # noqa: E402,F403
from mailcrm.settings import Q_CLUSTER  # noqa: E402

Q_CLUSTER["sync"] = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if REDIS_URL:  # noqa: F405
    # The real shared cache, each run under its own prefix.
    CACHES["default"]["KEY_PREFIX"] = f"test-{os.getpid()}"  # noqa: F405
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
WEBHOOK_ALLOW_PRIVATE_TARGETS = True
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
