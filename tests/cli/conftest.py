"""Run mailcrm-cli in-process (click's CliRunner) against a live test server with a real API
key: no mocked HTTP anywhere. Each test gets its own config file location."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mailcrm_cli.main import cli as cli_command


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A private config file path and none of the caller's MAILCRM_* variables."""
    config = tmp_path / "mailcrm" / "config.toml"
    monkeypatch.setenv("MAILCRM_CONFIG", str(config))
    for name in ("MAILCRM_URL", "MAILCRM_API_KEY", "MAILCRM_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return config


@dataclass
class Cli:
    url: str
    key: str

    def raw(self, *args: str, input: str | None = None) -> Result:
        """Run with exactly these arguments (no --url/--api-key added)."""
        return CliRunner().invoke(cli_command, list(args), input=input, catch_exceptions=False)

    def __call__(self, *args: str, input: str | None = None, key: str | None = None) -> Result:
        return self.raw("--url", self.url, "--api-key", key or self.key, *args, input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


@pytest.fixture
def cli(live_server, api_key, cli_env) -> Cli:
    return Cli(url=live_server.url, key=api_key.secret)
