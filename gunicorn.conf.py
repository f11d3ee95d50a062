"""gunicorn's settings, read from the working directory by `gunicorn mailcrm.wsgi` (Procfile).

Threaded workers (gthread): a tracking hit mostly waits on two Redis round trips, so a few
processes with several threads each keep the cores busy, and unlike sync workers they keep
connections alive — the TLS-terminating proxy in front (Caddy) reuses its upstream connections
instead of opening one per hit. Two processes for two cores; docs/performance.md has the
measurements. Override with WEB_CONCURRENCY (processes) and WEB_THREADS (threads each)."""

from mailcrm.env import env_int

worker_class = "gthread"
workers = env_int("WEB_CONCURRENCY", 2)
threads = env_int("WEB_THREADS", 8)
# Seconds an idle kept-alive connection stays open (the proxy's pool reuses it meanwhile).
keepalive = 5
