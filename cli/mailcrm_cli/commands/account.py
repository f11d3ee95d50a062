"""login, logout, whoami and ``keys``."""

from __future__ import annotations

import click

from mailcrm_cli import config
from mailcrm_cli.client import Client
from mailcrm_cli.core import State, confirm, json_option, pass_state, seg

KEY_COLUMNS = ["id", "name", "prefix", "created_at", "last_used_at", "rotated_at"]


@click.command()
@click.option("--url", "login_url", help="Server URL (asked for if missing).")
@click.option("--api-key", "login_key", help="API key (asked for, hidden, if missing).")
@click.option("--profile", "-p", "name", help="Profile name [default: default].")
@click.option("--no-verify", is_flag=True, help="Store without checking the key first.")
@click.option("--default/--no-default", "make_default", default=True, show_default=True)
@pass_state
def login(
    state: State,
    login_url: str | None,
    login_key: str | None,
    name: str | None,
    no_verify: bool,
    make_default: bool,
) -> None:
    """Store a server URL and API key as a profile of the config file (mode 0600).

    The key is checked against the server first (GET /customer/profile).

    \b
    Examples:
      mailcrm-cli login --url https://crm.example.com            # asks for the key
      echo "$KEY" | mailcrm-cli login --url http://localhost:8000 --profile local
    """
    name = name or state.profile or config.DEFAULT_PROFILE
    url = login_url or state.url or click.prompt("Server URL", err=True)
    key = login_key or state.api_key or click.prompt("API key", hide_input=True, err=True)
    key = key.strip()
    workspace = None
    if not no_verify:
        client = Client(url, key, timeout=state.timeout, retries=state.retries)
        try:
            workspace = client.get("customer/profile").get("workspace", {}).get("name")
        finally:
            client.close()
    path = config.store_profile(name, url=url, api_key=key, make_default=make_default)
    where = f" (workspace {workspace})" if workspace else ""
    state.note(f"Saved profile {name!r}{where} in {path}.")


@click.command()
@click.option("--profile", "-p", "name", help="Profile to forget [default: the default one].")
@pass_state
def logout(state: State, name: str | None) -> None:
    """Remove a profile (and its key) from the config file.

    \b
    Example:
      mailcrm-cli logout --profile staging
    """
    name = name or state.profile or config.load().get("default") or config.DEFAULT_PROFILE
    if not config.remove_profile(name):
        raise click.UsageError(f"No profile {name!r} in {config.config_path()}.")
    state.note(f"Removed profile {name!r}.")


@click.command()
@json_option
@pass_state
def whoami(state: State) -> None:
    """Show the workspace the key belongs to, its plan limits and usage.

    \b
    Example:
      mailcrm-cli --profile prod whoami
    """
    profile = state.client.get("customer/profile")
    if state.json:
        state.show(profile)
        return
    workspace = profile.get("workspace") or {}
    click.echo(f"server     {state.client.base}")
    click.echo(f"workspace  {workspace.get('name')} ({workspace.get('id')})")
    for section in ("limits", "usage"):
        values = profile.get(section) or {}
        text = ", ".join(f"{k}={'∞' if v is None else v}" for k, v in values.items())
        click.echo(f"{section.ljust(10)} {text}")


@click.group()
def keys() -> None:
    """API keys of the workspace: list, create, rotate, revoke.

    A key's secret is printed once, when it is created or rotated.
    """


@keys.command("list")
@json_option
@pass_state
def keys_list(state: State) -> None:
    """List the active API keys (never their secrets).

    \b
    Example:
      mailcrm-cli keys list --json
    """
    state.show_many(state.client.paginate("customer/api-keys", limit=None), KEY_COLUMNS)


@keys.command("create")
@click.argument("name")
@json_option
@pass_state
def keys_create(state: State, name: str) -> None:
    """Create a key and print its secret (shown this once).

    \b
    Example:
      mailcrm-cli keys create "CI deploys"
    """
    created = state.client.post("customer/api-keys", {"name": name})
    _show_secret(state, created)


@keys.command("rotate")
@click.argument("key_id")
@json_option
@pass_state
def keys_rotate(state: State, key_id: str) -> None:
    """Give a key a new secret; the old secret stops working at once.

    \b
    Example:
      mailcrm-cli keys rotate 0190f7c2-…
    """
    rotated = state.client.post(f"customer/api-keys/{seg(key_id)}/rotate")
    _show_secret(state, rotated)


@keys.command("revoke")
@click.argument("key_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def keys_revoke(state: State, key_id: str, yes: bool) -> None:
    """Revoke a key: requests with it are refused from now on.

    \b
    Example:
      mailcrm-cli keys revoke 0190f7c2-… --yes
    """
    confirm(state, yes, f"Revoke API key {key_id}?")
    state.client.delete(f"customer/api-keys/{seg(key_id)}")
    state.note(f"Revoked {key_id}.")


def _show_secret(state: State, body: dict) -> None:
    if state.json:
        state.show(body)
        return
    state.show({k: v for k, v in body.items() if k != "key"})
    click.echo(f"key     {body['key']}")
    state.note("Store the key now: it is not shown again.")


def register(cli: click.Group) -> None:
    for command in (login, logout, whoami, keys):
        cli.add_command(command)
