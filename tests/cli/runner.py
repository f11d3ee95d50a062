"""Runs mailcrm-cli in-process with click's CliRunner, the way a shell would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from click.testing import CliRunner, Result

from mailcrm_cli.main import cli as cli_command


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
