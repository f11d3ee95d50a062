"""Issue 12 §5, production settings: ``check --deploy`` has no findings, HTTPS is enforced
(except the tracking paths), and every dashboard page carries a strict content security policy
whose nonce is the one the page uses.

The production checks run in a subprocess: settings are read once, from the environment."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
            # Set by the browser tests' fixtures in this process; never in a deployment.
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        }
    }
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        ALLOWED_HOSTS="mail.example.com",
        DEBUG="0",
        MAILCRM_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="mailcrm.settings",
        **extra,
    )
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_check_deploy_has_no_findings_in_production(tmp_path):
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env(tmp_path)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="mail.example.com", raise_request_exception=False)
names = ["SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_SSL_REDIRECT",
         "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "X_FRAME_OPTIONS",
         "SECURE_REFERRER_POLICY", "TRUSTED_PROXIES"]
out = {name: getattr(settings, name) for name in names}
out["SECURE_PROXY_SSL_HEADER"] = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
login = client.get("/login/")
out["login"] = [login.status_code, login.get("Location", "")]
out["pixel"] = client.get("/t/o/not-a-token").status_code
out["behind_proxy"] = client.get("/login/", HTTP_X_FORWARDED_PROTO="https").status_code
print(json.dumps(out))
"""


def _probe(tmp_path: Path, **extra: str) -> dict:
    result = _run(["-c", PROBE], _production_env(tmp_path, **extra))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_defaults_enforce_https_but_not_on_tracking_paths(tmp_path):
    found = _probe(tmp_path)
    assert found["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert found["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert found["SESSION_COOKIE_SECURE"] and found["CSRF_COOKIE_SECURE"]
    assert found["X_FRAME_OPTIONS"] == "DENY"
    assert found["SECURE_REFERRER_POLICY"] == "same-origin"
    assert found["login"] == [301, "https://mail.example.com/login/"]
    # A tracking domain may have no certificate yet: its pixel is answered over plain HTTP.
    assert found["pixel"] == 404
    # No proxy header is believed unless configured: a client cannot claim HTTPS.
    assert found["SECURE_PROXY_SSL_HEADER"] is None
    assert found["behind_proxy"] == 301


def test_the_https_settings_are_tunable_from_the_environment(tmp_path):
    found = _probe(
        tmp_path,
        SECURE_HSTS_SECONDS="3600",
        SECURE_SSL_REDIRECT="0",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https",
        TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.1",
    )
    assert found["SECURE_HSTS_SECONDS"] == 3600
    assert found["SECURE_SSL_REDIRECT"] is False
    assert found["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert found["TRUSTED_PROXIES"] == ["10.0.0.0/8", "192.0.2.1"]
    assert found["login"][0] != 301  # served as asked (here without collected static files)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        directive.split()[0]: directive.split()[1:]
        for directive in header.split(";")
        if directive.strip()
    }


@pytest.mark.django_db
def test_dashboard_pages_carry_a_strict_policy_with_the_pages_nonce(dashboard):
    for path in ["/login/", "/"]:
        response = (Client() if path == "/login/" else dashboard).get(path)
        assert response.status_code == 200
        policy = _policy(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert "'unsafe-inline'" not in policy["script-src"]
        assert "'unsafe-eval'" not in policy["script-src"]
        assert "'unsafe-inline'" not in policy["style-src"]
        nonce = re.search(r'"inlineStyleNonce": "([^"]+)"', response.content.decode()).group(1)
        assert f"'nonce-{nonce}'" in policy["style-src"]
        # No inline script or inline event handler is left for the policy to block.
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r"\son[a-z]+=", html)


@pytest.mark.django_db
def test_the_api_docs_page_runs_under_the_policy(client):
    """Swagger UI's start-up script is served from a URL (the split view), not inline."""
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "'unsafe-inline'" not in _policy(page)["script-src"]
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
