"""``segments``: list, preview, create, refresh, members."""

from __future__ import annotations

import click

from mailcrm_cli.commands.contacts import COLUMNS as CONTACT_COLUMNS
from mailcrm_cli.core import State, find_id, json_option, page, paging_options, pass_state, seg

COLUMNS = ["id", "name", "kind", "count", "query", "refreshed_at"]
FIELDS = ["id", "name", "description", "kind", "query", "count", "refreshed_at", "created_at"]


@click.group()
def segments() -> None:
    """Segments: saved audiences defined by a query (dynamic) or by hand (static).

    A segment can be named by its id or by its name.
    """


def segment_id(state: State, ref: str) -> str:
    return find_id(state, "segments", ref, what="segment")


@segments.command("list")
@click.option("--kind", type=click.Choice(["dynamic", "static"]))
@click.option("-s", "--search", "q", metavar="TEXT", help="Part of the name.")
@paging_options
@json_option
@pass_state
def segments_list(
    state: State, kind: str | None, q: str | None, limit: int, fetch_all: bool
) -> None:
    """List segments with their member counts.

    \b
    Example:
      mailcrm-cli segments list --kind dynamic
    """
    items = page(state, "segments", {"kind": kind, "q": q}, limit, fetch_all)
    state.show_many(items, COLUMNS)


@segments.command("preview")
@click.argument("query")
@json_option
@pass_state
def segments_preview(state: State, query: str) -> None:
    """Count the contacts a QUERY matches and show a sample, without saving anything.

    A bad query is refused with the position and the reason.

    \b
    Examples:
      mailcrm-cli segments preview 'last_opened_at > -30d OR score > 50'
      mailcrm-cli segments preview 'tag = vip AND NOT list = "Conference Attendees 2025"'
    """
    body = state.client.post("segments/preview", {"query": query})
    if state.json:
        state.show(body)
        return
    click.echo(f"{body['count']} contact(s) match.")
    if body.get("sample"):
        state.show_many(body["sample"], CONTACT_COLUMNS)


@segments.command("create")
@click.argument("name")
@click.option("--query", help="The segment query (required for a dynamic segment).")
@click.option(
    "--kind", type=click.Choice(["dynamic", "static"]), default="dynamic", show_default=True
)
@click.option("--description", default="")
@json_option
@pass_state
def segments_create(
    state: State, name: str, query: str | None, kind: str, description: str
) -> None:
    """Create a segment.

    \b
    Examples:
      mailcrm-cli segments create "Engaged leads" --query 'lifecycle_stage = lead AND score > 50'
      mailcrm-cli segments create "Hand-picked" --kind static
    """
    body = {"name": name, "kind": kind, "description": description}
    if query is not None:
        body["query"] = query
    state.show(state.client.post("segments", body), fields=FIELDS)


@segments.command("refresh")
@click.argument("segment")
@json_option
@pass_state
def segments_refresh(state: State, segment: str) -> None:
    """Recompute a segment's members now (in the background).

    \b
    Example:
      mailcrm-cli segments refresh "Engaged leads"
    """
    body = state.client.post(f"segments/{seg(segment_id(state, segment))}/refresh")
    if state.json:
        state.show(body)
    else:
        state.note(f"Refresh of {segment} {body.get('status', 'queued')}.")


@segments.command("members")
@click.argument("segment")
@click.option("--ordering", help="created_at, email (- for descending).")
@paging_options
@json_option
@pass_state
def segments_members(
    state: State, segment: str, ordering: str | None, limit: int, fetch_all: bool
) -> None:
    """List the contacts in a segment.

    \b
    Example:
      mailcrm-cli segments members "Engaged leads" --all --json
    """
    path = f"segments/{seg(segment_id(state, segment))}/contacts"
    state.show_many(page(state, path, {"ordering": ordering}, limit, fetch_all), CONTACT_COLUMNS)


def register(cli: click.Group) -> None:
    cli.add_command(segments)
