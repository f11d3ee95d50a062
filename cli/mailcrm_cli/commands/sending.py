"""``campaigns`` and ``emails send``."""

from __future__ import annotations

import uuid
from typing import Any

import click

from mailcrm_cli.core import (
    State,
    json_option,
    page,
    paging_options,
    parse_pairs,
    pass_state,
    read_text_arg,
    seg,
)

COLUMNS = ["id", "name", "status", "recipients", "send_at", "started_at", "finished_at"]
FIELDS = [
    "id",
    "name",
    "status",
    "status_reason",
    "subject",
    "from_name",
    "from_email",
    "reply_to",
    "template_id",
    "audience",
    "recipients",
    "send_at",
    "rate_per_minute",
    "track_opens",
    "track_clicks",
    "tag",
    "started_at",
    "finished_at",
    "created_at",
    "updated_at",
]

IDEMPOTENCY_HELP = (
    "Repeat a request safely: a repeat with the same key and body sends nothing new "
    "[default: a fresh random key, so the CLI's own retries never send twice]."
)


@click.group()
def campaigns() -> None:
    """Campaigns: list, get, send, pause, resume, cancel, stats."""


@campaigns.command("list")
@paging_options
@json_option
@pass_state
def campaigns_list(state: State, limit: int, fetch_all: bool) -> None:
    """List campaigns, newest first.

    \b
    Example:
      mailcrm-cli campaigns list --all --json | jq '.[] | select(.status == "sent")'
    """
    state.show_many(page(state, "campaigns", {}, limit, fetch_all), COLUMNS)


@campaigns.command("get")
@click.argument("campaign_id")
@json_option
@pass_state
def campaigns_get(state: State, campaign_id: str) -> None:
    """Show one campaign.

    \b
    Example:
      mailcrm-cli campaigns get 0190f7c2-…
    """
    state.show(state.client.get(f"campaigns/{seg(campaign_id)}"), fields=FIELDS)


@campaigns.command("send")
@click.argument("campaign_id")
@click.option(
    "--override-risk", is_flag=True, help="Send although the risk check blocks it (admins)."
)
@click.option("--idempotency-key", help=IDEMPOTENCY_HELP)
@json_option
@pass_state
def campaigns_send(
    state: State, campaign_id: str, override_risk: bool, idempotency_key: str | None
) -> None:
    """Start sending a campaign now.

    Refused with 422 when it cannot be sent (no recipients, an unverified domain, a blocked
    risk assessment) and 409 when it was already sent.

    \b
    Example:
      mailcrm-cli campaigns send 0190f7c2-…
    """
    body = {"override_risk": True} if override_risk else {}
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    sent = state.client.post(f"campaigns/{seg(campaign_id)}/send", body, headers=headers)
    state.show(sent, fields=FIELDS)


def _lifecycle(action: str, doc: str) -> None:
    @campaigns.command(action, help=doc)
    @click.argument("campaign_id")
    @json_option
    @pass_state
    def command(state: State, campaign_id: str) -> None:
        state.show(state.client.post(f"campaigns/{seg(campaign_id)}/{action}"), fields=FIELDS)


_lifecycle(
    "pause",
    "Pause a sending campaign; nothing more goes out until `resume`.\n\n"
    "\b\nExample:\n  mailcrm-cli campaigns pause 0190f7c2-…",
)
_lifecycle(
    "resume",
    "Resume a paused campaign.\n\n\b\nExample:\n  mailcrm-cli campaigns resume 0190f7c2-…",
)
_lifecycle(
    "cancel",
    "Cancel a scheduled, sending or paused campaign (what was sent stays sent).\n\n"
    "\b\nExample:\n  mailcrm-cli campaigns cancel 0190f7c2-…",
)


@campaigns.command("stats")
@click.argument("campaign_id")
@json_option
@pass_state
def campaigns_stats(state: State, campaign_id: str) -> None:
    """Delivery and engagement numbers of a campaign, with rates and top links.

    \b
    Example:
      mailcrm-cli campaigns stats 0190f7c2-…
    """
    stats = state.client.get(f"campaigns/{seg(campaign_id)}/stats")
    if state.json:
        state.show(stats)
        return
    rows = []
    for name, value in stats.items():
        if name in ("rates", "top_links"):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        rows.append({"metric": name, "value": value})
    state.show_many(rows, ["metric", "value"])
    rates = stats.get("rates") or {}
    if rates:
        click.echo("")
        state.show_many(
            [
                {"rate": k, "value": f"{v:.2%}" if isinstance(v, float) else v}
                for k, v in rates.items()
            ],
            ["rate", "value"],
        )
    if stats.get("top_links"):
        click.echo("")
        state.show_many(stats["top_links"], ["url", "clicks", "unique"])


@click.group()
def emails() -> None:
    """Transactional email."""


@emails.command("send")
@click.option("--from", "from_", required=True, help="Sender address on a verified domain.")
@click.option("--from-name")
@click.option("--to", multiple=True, required=True, help="Recipient (repeatable, up to 50).")
@click.option("--cc", multiple=True)
@click.option("--bcc", multiple=True)
@click.option("--reply-to")
@click.option("--subject")
@click.option("--html", help="HTML body, or @file.")
@click.option("--text", help="Text body, or @file (derived from the HTML if omitted).")
@click.option("--template", "template_id", help="A template id instead of a body.")
@click.option("--var", "variables", multiple=True, metavar="KEY=VALUE", help="Template variable.")
@click.option("--header", "headers", multiple=True, metavar="NAME=VALUE", help="Extra header.")
@click.option("--tag")
@click.option("--metadata", multiple=True, metavar="KEY=VALUE", help="Kept with the events.")
@click.option("--idempotency-key", help=IDEMPOTENCY_HELP)
@json_option
@pass_state
def emails_send(state: State, idempotency_key: str | None, **options: Any) -> None:
    """Send one transactional email (queued; prints its id and status).

    \b
    Examples:
      mailcrm-cli emails send --from hello@acme.test --to jane@example.com \\
          --subject "Welcome" --html @welcome.html --tag onboarding
      mailcrm-cli emails send --from hello@acme.test --to jane@example.com \\
          --template 0190f7c2-… --var first_name=Jane --idempotency-key order-1234
    """
    body: dict[str, Any] = {"from": options.pop("from_")}
    for name in ("to", "cc", "bcc"):
        if options[name]:
            body[name] = list(options[name])
    for name in ("from_name", "reply_to", "subject", "template_id", "tag"):
        if options[name]:
            body[name] = options[name]
    for name in ("html", "text"):
        if options[name]:
            body[name] = read_text_arg(options[name])
    if options["variables"]:
        body["variables"] = parse_pairs(options["variables"], "--var", typed=True)
    if options["headers"]:
        body["headers"] = parse_pairs(options["headers"], "--header")
    if options["metadata"]:
        body["metadata"] = parse_pairs(options["metadata"], "--metadata", typed=True)
    headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
    state.show(state.client.post("emails", body, headers=headers))


def register(cli: click.Group) -> None:
    cli.add_command(campaigns)
    cli.add_command(emails)
