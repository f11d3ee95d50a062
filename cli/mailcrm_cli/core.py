"""What every command shares: the state built from the global options, the ``--json`` and
paging options, ``key=value`` parsing, and finding an object by name as well as by id."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import click

from mailcrm_cli import output
from mailcrm_cli.client import Client, CliError
from mailcrm_cli.config import resolve

F = TypeVar("F", bound=Callable[..., Any])
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


@dataclass
class State:
    url: str | None = None
    api_key: str | None = None
    profile: str | None = None
    json: bool = False
    quiet: bool = False
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            settings = resolve(url=self.url, api_key=self.api_key, profile=self.profile)
            self._client = Client(
                settings.url,
                settings.api_key,
                timeout=self.timeout,
                retries=self.retries,
                backoff=self.backoff,
                on_retry=self._notice_retry,
            )
        return self._client

    def _notice_retry(self, reason: str, delay: float) -> None:
        if not self.quiet:
            click.echo(f"{reason}; retrying in {delay:.1f} s…", err=True)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def show(
        self,
        value: Any,
        *,
        columns: Sequence[str] | None = None,
        fields: Sequence[str] | None = None,
    ) -> None:
        """Print an API answer: JSON with --json, else a table (lists) or a record."""
        if self.json:
            output.echo_json(value)
        elif isinstance(value, list):
            output.table(value, columns or ["id"])
        elif isinstance(value, dict):
            output.record(value, fields)
        elif value is not None:
            click.echo(str(value))

    def show_many(self, items: Iterable[dict], columns: Sequence[str]) -> int:
        items = list(items)
        if self.json:
            output.echo_json(items)
            return len(items)
        return output.table(items, columns)

    def note(self, message: str) -> None:
        """A message for people, on stderr, so stdout stays clean for pipes."""
        if not self.quiet:
            click.echo(message, err=True)


pass_state = click.make_pass_decorator(State, ensure=True)


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(State).json = True


def json_option(func: F) -> F:
    """``--json`` on a command as well as before it (``mailcrm-cli --json contacts list``)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        is_eager=True,
        help="Print the API's JSON instead of a table.",
    )(func)


def paging_options(func: F) -> F:
    func = click.option(
        "--all", "fetch_all", is_flag=True, help="Follow every page (ignores --limit)."
    )(func)
    return click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=50,
        show_default=True,
        help="At most this many rows (pages are followed as needed).",
    )(func)


def page(state: State, path: str, params: dict[str, Any], limit: int, fetch_all: bool) -> Iterator:
    return state.client.paginate(path, params, limit=None if fetch_all else limit)


def parse_value(text: str) -> Any:
    """``42`` → 42, ``true`` → True, ``["a"]`` → list, anything else stays a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(pairs: Iterable[str], what: str, *, typed: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=what)
        result[key.strip()] = parse_value(value) if typed else value
    return result


def read_text_arg(value: str | None) -> str | None:
    """``@path`` reads a file (``@-`` standard input); anything else is the text itself."""
    if value is None or not value.startswith("@"):
        return value
    with click.open_file(value[1:], "r", encoding="utf-8") as handle:
        return handle.read()


def is_uuid(value: str) -> bool:
    return bool(UUID_RE.match(value))


def seg(value: str) -> str:
    """One path segment, escaped (ids and tag names typed by people)."""
    return quote(str(value), safe="")


def find_id(state: State, path: str, ref: str, *, key: str = "name", what: str = "object") -> str:
    """An id as is, or the id of the one object whose ``key`` equals ``ref`` (case-insensitive),
    searched with the list's ``q`` filter."""
    if is_uuid(ref):
        return ref
    matches = [
        item
        for item in state.client.paginate(path, {"q": ref}, limit=None)
        if str(item.get(key, "")).lower() == ref.lower()
    ]
    if not matches:
        raise CliError(f"No {what} named {ref!r}.")
    if len(matches) > 1:
        ids = ", ".join(item["id"] for item in matches)
        raise CliError(f"Several {what}s are named {ref!r}: use an id ({ids}).")
    return matches[0]["id"]


def confirm(state: State, yes: bool, message: str) -> None:
    if not yes:
        click.confirm(message, abort=True, err=True)
