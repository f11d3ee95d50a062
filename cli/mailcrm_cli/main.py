"""The ``mailcrm-cli`` entry point: global options, error reporting, exit codes."""

from __future__ import annotations

from typing import Any

import click

from mailcrm_cli import __version__, output
from mailcrm_cli.client import ApiError, CliError
from mailcrm_cli.commands import (
    account,
    audience,
    contacts,
    deliverability,
    sending,
    transfer,
    webhooks,
)
from mailcrm_cli.core import State

HELP = """Command-line client for the mailcrm REST API.

\b
Configuration (first found wins):
  --url / --api-key flags
  the profile named by --profile (or MAILCRM_PROFILE)
  MAILCRM_URL / MAILCRM_API_KEY environment variables
  the default profile of the config file ($MAILCRM_CONFIG, else
  $XDG_CONFIG_HOME/mailcrm/config.toml or ~/.config/mailcrm/config.toml),
  written by `mailcrm-cli login` with mode 0600.

\b
Output: tables for people; --json (before or after the command) for scripts.
Messages and errors go to stderr.

\b
Exit codes:
  0  success
  1  the API refused the request (400, 404, 409, 422…) or an import failed
  2  usage error: bad arguments, no URL or API key
  3  network failure, 5xx or 429 still failing after the retries
  4  authentication: 401 (missing/invalid key) or 403 (not allowed)

\b
Examples:
  mailcrm-cli login --url https://crm.example.com
  mailcrm-cli contacts search 'tag = vip AND score > 50'
  mailcrm-cli --json contacts list --all | jq '.[].email'
  mailcrm-cli import people.csv --map E-mail=email --tags newsletter --wait
"""


def report(state: State, exc: CliError) -> None:
    """The API's message, then each field's reasons, on stderr."""
    if isinstance(exc, ApiError):
        if state.json and exc.body is not None:
            click.echo(output.to_json(exc.body), err=True)
            return
        click.echo(f"Error ({exc.status} {exc.code}): {exc.message}", err=True)
        lines = [
            f"{name}: {reason}"
            for name, reasons in exc.fields.items()
            for reason in (reasons if isinstance(reasons, list) else [reasons])
        ]
        if lines != [exc.message]:  # one field's reason is already the message
            for line in lines:
                click.echo(f"  {line}", err=True)
        for name, value in exc.extra.items():
            click.echo(f"  {name}: {output.cell(value, width=None)}", err=True)
        return
    click.echo(f"Error: {exc.message}", err=True)


class Root(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CliError as exc:
            report(ctx.ensure_object(State), exc)
            ctx.exit(exc.exit_code)
        finally:
            if isinstance(ctx.obj, State):
                ctx.obj.close()


@click.group(cls=Root, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", help="Server URL, e.g. https://crm.example.com [env MAILCRM_URL].")
@click.option("--api-key", help="API key [env MAILCRM_API_KEY; better: `login`].")
@click.option("--profile", "-p", help="A profile of the config file (see `login`).")
@click.option("--json", "as_json", is_flag=True, help="JSON output for scripts.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or retry messages on stderr.")
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds per HTTP request."
)
@click.option(
    "--retries",
    type=click.IntRange(0, 10),
    default=3,
    show_default=True,
    help="Retries after a network error, 5xx or 429.",
)
@click.version_option(__version__, prog_name="mailcrm-cli")
@click.pass_context
def cli(
    ctx: click.Context,
    url: str | None,
    api_key: str | None,
    profile: str | None,
    as_json: bool,
    quiet: bool,
    timeout: float,
    retries: int,
) -> None:
    state = ctx.ensure_object(State)
    # The environment variables are read by config.resolve(), after an explicit --profile.
    state.url = url
    state.api_key = api_key
    state.profile = profile
    state.json = state.json or as_json
    state.quiet = quiet
    state.timeout = timeout
    state.retries = retries


for module in (account, contacts, transfer, audience, sending, deliverability, webhooks):
    module.register(cli)


def main() -> None:
    cli(prog_name="mailcrm-cli")
