"""Retries (a real loopback server answering 503, 429, 500), network failures, exit codes,
the config file (profiles, precedence, mode 0600) and --help for every command."""

import json
import os
import socket
import stat
import time

import click
import pytest

from mailcrm_cli import config
from mailcrm_cli.client import api_base, retry_after_seconds
from mailcrm_cli.main import cli as root
from tests.cli.runner import Cli
from tests.http_receiver import Reply

VALID = Reply(
    200,
    body=json.dumps(
        {
            "email": "jane@example.com",
            "result": "valid",
            "reasons": [],
            "checks": {},
            "suggestion": "",
        }
    ).encode(),
    headers={"Content-Type": "application/json"},
)
ERROR_503 = Reply(
    503,
    body=b'{"error": {"code": "unavailable", "message": "Down for maintenance."}}',
    headers={"Content-Type": "application/json"},
)


@pytest.fixture
def fake(receiver, cli_env):
    """The CLI pointed at the loopback receiver (POST only): validate is a POST."""
    return Cli(url=f"http://127.0.0.1:{receiver.port}", key="mc_test")


def test_a_503_is_retried_with_backoff_then_succeeds(fake, receiver):
    receiver.answers = [ERROR_503, VALID]
    result = fake("validate", "jane@example.com")
    assert result.exit_code == 0, result.stderr
    assert "jane@example.com  valid" in result.stdout
    assert "HTTP 503; retrying in " in result.stderr
    assert len(receiver.requests) == 2
    assert receiver.requests[0].path == "/api/v1/validation/email"
    assert receiver.requests[0].headers["X-API-Key"] == "mc_test"


def test_a_429_waits_for_retry_after(fake, receiver):
    receiver.answers = [Reply(429, body=b"{}", headers={"Retry-After": "1"}), VALID]
    started = time.monotonic()
    result = fake("validate", "jane@example.com")
    assert result.exit_code == 0, result.stderr
    assert time.monotonic() - started >= 1.0
    assert "HTTP 429; retrying in 1.0 s" in result.stderr
    assert len(receiver.requests) == 2


def test_5xx_still_failing_after_the_retries_exits_3_with_the_apis_message(fake, receiver):
    receiver.answers = [ERROR_503] * 5
    result = fake("--retries", "1", "validate", "jane@example.com")
    assert result.exit_code == 3
    assert "Error (503 unavailable): Down for maintenance." in result.stderr
    assert len(receiver.requests) == 2


def test_a_403_exits_4_and_is_not_retried(fake, receiver):
    receiver.answers = [
        Reply(403, body=b'{"error": {"code": "forbidden", "message": "Admins only."}}')
    ]
    result = fake("validate", "jane@example.com")
    assert result.exit_code == 4
    assert result.stderr == "Error (403 forbidden): Admins only.\n"
    assert len(receiver.requests) == 1


def test_a_500_on_a_post_is_not_repeated_without_an_idempotency_key(fake, receiver):
    receiver.answers = [500, VALID]
    result = fake("validate", "jane@example.com")
    assert result.exit_code == 3
    assert len(receiver.requests) == 1


def test_emails_send_carries_one_idempotency_key_across_retries(fake, receiver):
    queued = Reply(202, body=b'{"id": "x", "status": "queued"}')
    receiver.answers = [500, queued]
    result = fake("emails", "send", "--from", "a@acme.io", "--to", "b@example.com")
    assert result.exit_code == 0, result.stderr
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert len(keys) == 2 and keys[0] == keys[1]


def test_a_server_that_cannot_be_reached_exits_3(cli_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nothing listens there
    result = Cli(url=f"http://127.0.0.1:{port}", key="k")("--retries", "1", "contacts", "list")
    assert result.exit_code == 3
    assert f"Cannot reach http://127.0.0.1:{port}/api/v1" in result.stderr
    assert "network error (ConnectError); retrying" in result.stderr


def test_usage_errors_exit_2(cli_env):
    result = Cli(url="", key="")("contacts", "list")
    assert result.exit_code == 2 and "No server URL" in result.stderr
    result = Cli(url="http://127.0.0.1:9", key="k")("contacts", "list", "--limit", "0")
    assert result.exit_code == 2
    result = Cli(url="ftp://x", key="k")("contacts", "list")
    assert result.exit_code == 2 and "must start with http" in result.stderr


def test_helpers():
    assert api_base("https://crm.example.com/") == "https://crm.example.com/api/v1"
    assert api_base("http://h:8000/api/v1") == "http://h:8000/api/v1"
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("100000") == 120.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# --- configuration ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_login_stores_a_private_profile_used_afterwards(cli, cli_env):
    result = cli.raw("login", "--url", cli.url, "--api-key", cli.key)
    assert result.exit_code == 0, result.stderr
    assert "Saved profile 'default' (workspace Acme)" in result.stderr
    assert stat.S_IMODE(os.stat(cli_env).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cli_env.parent).st_mode) == 0o700
    stored = config.load(cli_env)
    assert stored["default"] == "default"
    assert stored["profiles"]["default"] == {"url": cli.url, "api_key": cli.key}

    # No flags, no environment: the default profile.
    assert cli.raw("contacts", "list").exit_code == 0
    assert "workspace  Acme" in cli.raw("whoami").stdout

    # A second profile, asked for on stdin with the key hidden; the default stays.
    result = cli.raw(
        "login", "--profile", "other", "--url", cli.url, "--no-default", input=f"{cli.key}\n"
    )
    assert result.exit_code == 0, result.stderr
    assert cli.key not in result.stdout + result.stderr
    assert config.load(cli_env)["default"] == "default"
    assert stat.S_IMODE(os.stat(cli_env).st_mode) == 0o600
    assert cli.raw("--profile", "other", "whoami").exit_code == 0

    result = cli.raw("--profile", "nope", "whoami")
    assert result.exit_code == 2 and "No profile 'nope'" in result.stderr
    assert cli.raw("logout", "--profile", "other").exit_code == 0
    assert set(config.load(cli_env)["profiles"]) == {"default"}


@pytest.mark.django_db(transaction=True)
def test_login_with_a_wrong_key_stores_nothing(cli, cli_env):
    result = cli.raw("login", "--url", cli.url, "--api-key", "mc_wrong")
    assert result.exit_code == 4
    assert not cli_env.exists()


@pytest.mark.django_db(transaction=True)
def test_environment_variables_and_precedence(cli, cli_env, monkeypatch):
    monkeypatch.setenv("MAILCRM_URL", cli.url)
    monkeypatch.setenv("MAILCRM_API_KEY", cli.key)
    assert cli.raw("whoami").exit_code == 0
    # A flag beats the environment.
    assert cli.raw("--api-key", "mc_wrong", "whoami").exit_code == 4
    # An explicit profile beats the environment.
    config.store_profile("bad", url=cli.url, api_key="mc_wrong", make_default=False)
    assert cli.raw("--profile", "bad", "whoami").exit_code == 4
    monkeypatch.setenv("MAILCRM_PROFILE", "bad")
    assert cli.raw("whoami").exit_code == 4


def test_the_config_path(monkeypatch, tmp_path):
    monkeypatch.delenv("MAILCRM_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_path() == tmp_path / "mailcrm" / "config.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.config_path() == tmp_path / "home" / ".config" / "mailcrm" / "config.toml"
    monkeypatch.setenv("MAILCRM_CONFIG", str(tmp_path / "x.toml"))
    assert config.config_path() == tmp_path / "x.toml"


def test_profiles_with_odd_characters_round_trip(cli_env):
    config.store_profile('a "b"\\c', url="http://h", api_key='k"\\\n', make_default=True)
    assert config.load()["profiles"]['a "b"\\c'] == {"url": "http://h", "api_key": 'k"\\\n'}


# --- help ---------------------------------------------------------------------------------------


def _leaves(group: click.Group, prefix=()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaves(command, (*prefix, name))
        else:
            yield (*prefix, name), command


@pytest.mark.parametrize("path", [p for p, _ in _leaves(root)], ids=" ".join)
def test_every_command_has_help_with_an_example(path, cli_env):
    from click.testing import CliRunner

    result = CliRunner().invoke(root, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout, path
