"""``webhooks`` (endpoints, deliveries, retry) and ``events tail``."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import click

from mailcrm_cli.core import State, json_option, page, paging_options, pass_state, seg

WEBHOOK_COLUMNS = ["id", "name", "url", "events", "is_active", "failing_since"]
OVERLAP = timedelta(seconds=10)
DELIVERY_COLUMNS = [
    "id",
    "event_type",
    "status",
    "attempts",
    "last_status_code",
    "next_attempt_at",
    "created_at",
]


@click.group()
def webhooks() -> None:
    """Webhook endpoints: list, deliveries, retry."""


@webhooks.command("list")
@json_option
@pass_state
def webhooks_list(state: State) -> None:
    """List webhook endpoints (their signing secrets are never shown again).

    \b
    Example:
      mailcrm-cli webhooks list
    """
    state.show_many(state.client.paginate("customer/webhooks", limit=None), WEBHOOK_COLUMNS)


@webhooks.command("deliveries")
@click.argument("webhook_id")
@click.option("--status", help="e.g. failed, delivered, pending.")
@click.option("--event-type", help="e.g. email.bounced.")
@paging_options
@json_option
@pass_state
def webhooks_deliveries(
    state: State,
    webhook_id: str,
    status: str | None,
    event_type: str | None,
    limit: int,
    fetch_all: bool,
) -> None:
    """List an endpoint's delivery attempts: status code, attempts, next retry.

    \b
    Example:
      mailcrm-cli webhooks deliveries 0190f7c2-… --status failed
    """
    path = f"customer/webhooks/{seg(webhook_id)}/deliveries"
    params = {"status": status, "event_type": event_type}
    state.show_many(page(state, path, params, limit, fetch_all), DELIVERY_COLUMNS)


@webhooks.command("retry")
@click.argument("webhook_id")
@click.argument("delivery_id")
@json_option
@pass_state
def webhooks_retry(state: State, webhook_id: str, delivery_id: str) -> None:
    """Send one delivery again now.

    \b
    Example:
      mailcrm-cli webhooks retry 0190f7c2-… 0190f7d0-…
    """
    path = f"customer/webhooks/{seg(webhook_id)}/deliveries/{seg(delivery_id)}/retry"
    state.show(state.client.post(path), fields=[*DELIVERY_COLUMNS, "last_error"])


@click.group()
def events() -> None:
    """The workspace's event stream (email.* and contact.* events)."""


def _print_event(state: State, event: dict) -> None:
    if state.json:
        # One JSON object per line, so that a pipe can read events as they come.
        click.echo(json.dumps(event, ensure_ascii=False, default=str))
        return
    data = event.get("data") or {}
    detail = json.dumps(data, ensure_ascii=False, default=str, separators=(",", ":"))
    if len(detail) > 120:
        detail = detail[:119] + "…"
    when = event.get("created_at", "")
    click.echo(f"{when}  {event.get('type', ''):<22} {event.get('subject_id') or '-'}  {detail}")


@events.command("tail")
@click.option("--type", "type_", help="Only this type, e.g. email.opened or email.*.")
@click.option("--email", help="Only events about this address.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Show this many recent events first.",
)
@click.option(
    "--interval", type=float, default=2.0, show_default=True, help="Seconds between polls."
)
@click.option("--once", is_flag=True, help="Print the recent events and stop (no following).")
@click.option("--max", "max_events", type=click.IntRange(min=1), help="Stop after this many.")
@json_option
@pass_state
def events_tail(
    state: State,
    type_: str | None,
    email: str | None,
    lines: int,
    interval: float,
    once: bool,
    max_events: int | None,
) -> None:
    """Print recent events, then follow new ones by polling (Ctrl-C stops).

    With --json, one JSON object per line.

    \b
    Examples:
      mailcrm-cli events tail --type 'email.*'
      mailcrm-cli events tail --email jane@example.com --json | jq .type
      mailcrm-cli events tail -n 0 --max 1     # wait for the next event
    """
    filters = {"type": type_, "email": email}
    printed = 0

    def emit(batch: list[dict]) -> bool:
        """Print a newest-first batch oldest first; True once --max is reached."""
        nonlocal printed
        for event in reversed(batch):
            _print_event(state, event)
            printed += 1
            if max_events and printed >= max_events:
                return True
        return False

    recent = list(state.client.paginate("events", filters, limit=max(lines, 1)))
    seen = {event["id"]: _when(event) for event in recent}
    if emit(recent[:lines]) or once:
        return
    newest = max(seen.values(), default=None)
    try:
        while True:
            time.sleep(interval)
            params = dict(filters)
            if newest:
                # Re-read a window before the newest event seen: an event written by a
                # transaction that committed late carries an earlier time. Ids already
                # printed are skipped.
                params["from"] = (newest - OVERLAP).isoformat()
            batch = [
                event
                for event in state.client.paginate("events", params, limit=None)
                if event["id"] not in seen
            ]
            seen.update((event["id"], _when(event)) for event in batch)
            if emit(batch):
                return
            newest = max(seen.values(), default=None)
            if newest:
                seen = {key: when for key, when in seen.items() if when >= newest - OVERLAP}
    except KeyboardInterrupt:
        return


def _when(event: dict) -> datetime:
    return datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))


def register(cli: click.Group) -> None:
    cli.add_command(webhooks)
    cli.add_command(events)
