"""``contacts``: list, search, get, create, update, delete, tag, untag, merge."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from mailcrm_cli.client import CliError
from mailcrm_cli.core import (
    State,
    confirm,
    is_uuid,
    json_option,
    page,
    paging_options,
    parse_pairs,
    pass_state,
    read_text_arg,
    seg,
)

COLUMNS = ["id", "email", "name", "status", "lifecycle_stage", "tags", "score", "created_at"]
FIELDS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "phone",
    "company",
    "job_title",
    "status",
    "lifecycle_stage",
    "source",
    "tags",
    "lists",
    "properties",
    "score",
    "score_tier",
    "stats",
    "archived",
    "created_at",
    "updated_at",
]
STATUSES = ["active", "unsubscribed", "bounced", "complained"]
STAGES = [
    "subscriber",
    "lead",
    "marketing_qualified",
    "sales_qualified",
    "opportunity",
    "customer",
    "evangelist",
]


@click.group()
def contacts() -> None:
    """Contacts: list, search, get, create, update, delete, tag, untag, merge.

    A contact can be named by its id or by its email address.
    """


def contact_id(state: State, ref: str) -> str:
    """An id as is; an email address looked up exactly."""
    if is_uuid(ref) or "@" not in ref:
        return ref
    escaped = ref.replace("\\", "\\\\").replace('"', '\\"')
    found = list(
        state.client.paginate("contacts/search", {"query": f'email = "{escaped}"'}, limit=2)
    )
    if not found:
        raise CliError(f"No contact with the email address {ref}.")
    return found[0]["id"]


@contacts.command("list")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--lifecycle-stage", type=click.Choice(STAGES))
@click.option("--tag", help="Only contacts with this tag.")
@click.option("--list", "list_", help="Only members of this list (id or name).")
@click.option("--segment", help="Only members of this segment (id or name).")
@click.option("--source", type=click.Choice(["api", "form", "import", "manual", "integration"]))
@click.option("--created-after", metavar="DATE", help="ISO date or date-time.")
@click.option("--created-before", metavar="DATE")
@click.option("-s", "--search", "q", metavar="TEXT", help="Free-text search (name, email…).")
@click.option("--query", metavar="QUERY", help="Segment query language filter.")
@click.option("--ordering", help="e.g. -created_at, email.")
@click.option("--count", is_flag=True, help="Also print the total number of matches.")
@paging_options
@json_option
@pass_state
def contacts_list(
    state: State, limit: int, fetch_all: bool, count: bool, list_: str | None, **filters: Any
) -> None:
    """List contacts, newest first, following cursor pages.

    \b
    Examples:
      mailcrm-cli contacts list --status active --tag vip
      mailcrm-cli contacts list --all --json > contacts.json
      mailcrm-cli contacts list --query 'score > 50' --limit 10
    """
    params = dict(filters, list=list_)
    if count:
        total = state.client.get("contacts", **params, page_size=1, count="true").get("count")
        state.note(f"{total} contact(s) match.")
    state.show_many(page(state, "contacts", params, limit, fetch_all), COLUMNS)


@contacts.command("search")
@click.argument("query")
@click.option("--ordering", help="e.g. -created_at, email.")
@paging_options
@json_option
@pass_state
def contacts_search(
    state: State, query: str, ordering: str | None, limit: int, fetch_all: bool
) -> None:
    """Search with the segment query language (key:value shorthand allowed).

    \b
    Examples:
      mailcrm-cli contacts search 'status = active AND lifecycle_stage IN (lead, customer)'
      mailcrm-cli contacts search 'industry:SaaS'
      mailcrm-cli contacts search 'email ENDS WITH "@example.com" AND phone IS SET' --all
    """
    params = {"query": query, "ordering": ordering}
    state.show_many(page(state, "contacts/search", params, limit, fetch_all), COLUMNS)


@contacts.command("get")
@click.argument("contact")
@json_option
@pass_state
def contacts_get(state: State, contact: str) -> None:
    """Show one contact (by id or email).

    \b
    Examples:
      mailcrm-cli contacts get jane@example.com
      mailcrm-cli contacts get 0190f7c2-… --json
    """
    body = state.client.get(f"contacts/{seg(contact_id(state, contact))}")
    state.show(body, fields=FIELDS)


def contact_fields(func: Callable) -> Callable:
    options = [
        click.option("--first-name"),
        click.option("--last-name"),
        click.option("--name", help="Full name (split into first and last)."),
        click.option("--phone"),
        click.option("--company"),
        click.option("--job-title"),
        click.option("--status", type=click.Choice(STATUSES)),
        click.option("--lifecycle-stage", type=click.Choice(STAGES)),
        click.option(
            "--prop",
            "props",
            multiple=True,
            metavar="KEY=VALUE",
            help="A custom property (repeatable); VALUE is JSON if it parses (42, true, "
            '["a"]), else text.',
        ),
        click.option(
            "--tag",
            "tags",
            multiple=True,
            help="A tag (repeatable); on update the given tags replace the contact's (to add "
            "one, use `contacts tag`).",
        ),
        click.option(
            "--list", "lists", multiple=True, help="A list id (repeatable; replaces on update)."
        ),
        click.option(
            "--data",
            metavar="JSON",
            help="A JSON contact body (or @file, @- for stdin); the options above override it.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def contact_body(data: str | None, props: tuple[str, ...], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if data:
        try:
            body = json.loads(read_text_arg(data) or "")
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
        if not isinstance(body, dict):
            raise click.BadParameter("must be a JSON object", param_hint="--data")
    for key, value in fields.items():
        if value not in (None, ()):
            body[key] = list(value) if isinstance(value, tuple) else value
    if props:
        body["properties"] = {
            **body.get("properties", {}),
            **parse_pairs(props, "--prop", typed=True),
        }
    return body


@contacts.command("create")
@click.argument("email", required=False)
@contact_fields
@json_option
@pass_state
def contacts_create(
    state: State, email: str | None, data: str | None, props: tuple[str, ...], **fields: Any
) -> None:
    """Create a contact. A duplicate email is refused (409) with the existing id.

    \b
    Examples:
      mailcrm-cli contacts create jane@example.com --first-name Jane --tag vip \\
          --prop plan=pro --prop lifetime_value=2500
      mailcrm-cli contacts create --data @jane.json
    """
    body = contact_body(data, props, email=email, **fields)
    if not body.get("email"):
        raise click.UsageError("Give an EMAIL (or an email in --data).")
    state.show(state.client.post("contacts", body), fields=FIELDS)


@contacts.command("update")
@click.argument("contact")
@click.option("--email", help="A new email address.")
@contact_fields
@json_option
@pass_state
def contacts_update(
    state: State, contact: str, data: str | None, props: tuple[str, ...], **fields: Any
) -> None:
    """Change some fields of a contact (PATCH: --prop keys are merged into its properties).

    \b
    Examples:
      mailcrm-cli contacts update jane@example.com --lifecycle-stage customer
      mailcrm-cli contacts update 0190f7c2-… --prop plan=enterprise
    """
    body = contact_body(data, props, **fields)
    if not body:
        raise click.UsageError("Nothing to change: give at least one field option.")
    cid = contact_id(state, contact)
    state.show(state.client.patch(f"contacts/{seg(cid)}", body), fields=FIELDS)


@contacts.command("delete")
@click.argument("contact")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def contacts_delete(state: State, contact: str, yes: bool) -> None:
    """Delete a contact (by id or email).

    \b
    Example:
      mailcrm-cli contacts delete jane@example.com --yes
    """
    cid = contact_id(state, contact)
    confirm(state, yes, f"Delete contact {contact}?")
    state.client.delete(f"contacts/{seg(cid)}")
    state.note(f"Deleted {contact}.")


@contacts.command("tag")
@click.argument("contact")
@click.argument("tags", nargs=-1, required=True)
@json_option
@pass_state
def contacts_tag(state: State, contact: str, tags: tuple[str, ...]) -> None:
    """Add tags to a contact (unknown tags are created).

    \b
    Example:
      mailcrm-cli contacts tag jane@example.com vip newsletter
    """
    cid = contact_id(state, contact)
    body = state.client.post(f"contacts/{seg(cid)}/tags", {"tags": list(tags)})
    state.show(body if state.json else {"id": body["id"], "tags": body.get("tags")})


@contacts.command("untag")
@click.argument("contact")
@click.argument("tags", nargs=-1, required=True)
@json_option
@pass_state
def contacts_untag(state: State, contact: str, tags: tuple[str, ...]) -> None:
    """Remove tags from a contact.

    \b
    Example:
      mailcrm-cli contacts untag jane@example.com newsletter
    """
    cid = contact_id(state, contact)
    body: dict = {}
    for tag in tags:
        body = state.client.delete(f"contacts/{seg(cid)}/tags/{seg(tag)}")
    state.show(body if state.json else {"id": body["id"], "tags": body.get("tags")})


@contacts.command("merge")
@click.argument("primary")
@click.argument("duplicates", nargs=-1, required=True)
@json_option
@pass_state
def contacts_merge(state: State, primary: str, duplicates: tuple[str, ...]) -> None:
    """Merge duplicates into the primary contact (ids or emails); the duplicates go away.

    \b
    Example:
      mailcrm-cli contacts merge jane@example.com jane.smith@example.com
    """
    body = {
        "primary_id": contact_id(state, primary),
        "duplicate_ids": [contact_id(state, ref) for ref in duplicates],
    }
    state.show(state.client.post("contacts/merge", body), fields=FIELDS)


def register(cli: click.Group) -> None:
    cli.add_command(contacts)
