"""Run mailcrm-cli in-process (click's CliRunner) against a live test server with a real API
key: no mocked HTTP anywhere. Each test gets its own config file location."""

from __future__ import annotations

import pytest

from tests.cli.runner import Cli


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A private config file path and none of the caller's MAILCRM_* variables."""
    config = tmp_path / "mailcrm" / "config.toml"
    monkeypatch.setenv("MAILCRM_CONFIG", str(config))
    for name in ("MAILCRM_URL", "MAILCRM_API_KEY", "MAILCRM_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return config


@pytest.fixture
def cli(live_server, api_key, cli_env) -> Cli:
    return Cli(url=live_server.url, key=api_key.secret)
