"""``domains``, ``suppressions`` and ``validate``."""

from __future__ import annotations

import click

from mailcrm_cli.client import CliError
from mailcrm_cli.core import (
    State,
    confirm,
    is_uuid,
    json_option,
    page,
    paging_options,
    pass_state,
    seg,
)

DOMAIN_COLUMNS = ["id", "domain", "is_verified", "verified_at", "last_checked_at"]
RECORD_COLUMNS = ["purpose", "type", "host", "value", "status"]
SUPPRESSION_COLUMNS = ["id", "email", "type", "source", "domain_id", "reason", "created_at"]
SUPPRESSION_TYPES = ["hard_bounce", "soft_bounce", "complaint", "manual"]


@click.group()
def domains() -> None:
    """Sending domains: list, add, verify (with the DNS records to publish)."""


def domain_id(state: State, ref: str) -> str:
    if is_uuid(ref):
        return ref
    for item in state.client.paginate("customer/domains", limit=None):
        if item.get("domain", "").lower() == ref.lower().rstrip("."):
            return item["id"]
    raise CliError(f"No sending domain {ref}.")


@domains.command("list")
@json_option
@pass_state
def domains_list(state: State) -> None:
    """List sending domains and whether each is verified.

    \b
    Example:
      mailcrm-cli domains list
    """
    state.show_many(state.client.paginate("customer/domains", limit=None), DOMAIN_COLUMNS)


def show_domain(state: State, domain: dict) -> None:
    """The domain, then each DNS record to publish with its status and what was found."""
    if state.json:
        state.show(domain)
        return
    verified = "verified" if domain.get("is_verified") else "not verified"
    click.echo(f"{domain['domain']} ({domain['id']}): {verified}")
    records = domain.get("dns_records") or []
    if not records:
        return
    click.echo("\nPublish these DNS records:\n")
    for record in records:
        click.echo(f"  [{record.get('status', '?').upper()}] {record.get('purpose')}")
        click.echo(f"    {record.get('type')}  {record.get('host')}")
        click.echo(f"    {record.get('value')}")
        found = record.get("found") or []
        if record.get("status") != "valid" and found:
            click.echo(f"    found: {'; '.join(str(value) for value in found)}")
        if record.get("status") == "invalid" and record.get("explanation"):
            click.echo(f"    why: {record['explanation']}")
        click.echo("")


@domains.command("add")
@click.argument("domain")
@json_option
@pass_state
def domains_add(state: State, domain: str) -> None:
    """Add a sending domain and print the DNS records to publish.

    \b
    Example:
      mailcrm-cli domains add mail.acme.com
    """
    show_domain(state, state.client.post("customer/domains", {"domain": domain}))


@domains.command("verify")
@click.argument("domain")
@json_option
@pass_state
def domains_verify(state: State, domain: str) -> None:
    """Check a domain's DNS now and print each record's status (id or domain name).

    \b
    Example:
      mailcrm-cli domains verify mail.acme.com
    """
    show_domain(
        state, state.client.post(f"customer/domains/{seg(domain_id(state, domain))}/verify")
    )


@click.group()
def suppressions() -> None:
    """Suppressed addresses (never mailed): list, add, remove."""


@suppressions.command("list")
@click.option("--type", "type_", type=click.Choice(SUPPRESSION_TYPES))
@click.option("--email", help="Exactly this address.")
@click.option("--domain", help="Only this sending domain's (id or name).")
@click.option("-s", "--search", "q", metavar="TEXT", help="Part of the address or reason.")
@paging_options
@json_option
@pass_state
def suppressions_list(
    state: State,
    type_: str | None,
    email: str | None,
    domain: str | None,
    q: str | None,
    limit: int,
    fetch_all: bool,
) -> None:
    """List suppressions.

    \b
    Examples:
      mailcrm-cli suppressions list --type hard_bounce --all
      mailcrm-cli suppressions list --email jane@example.com
    """
    params = {"type": type_, "email": email, "q": q}
    if domain:
        params["domain_id"] = domain_id(state, domain)
    state.show_many(page(state, "suppressions", params, limit, fetch_all), SUPPRESSION_COLUMNS)


@suppressions.command("add")
@click.argument("emails", nargs=-1, required=True)
@click.option(
    "--type", "type_", type=click.Choice(SUPPRESSION_TYPES), default="manual", show_default=True
)
@click.option("--reason", default="", help="Why (shown in the dashboard).")
@click.option("--domain", help="Only for this sending domain (id or name) [default: all].")
@json_option
@pass_state
def suppressions_add(
    state: State, emails: tuple[str, ...], type_: str, reason: str, domain: str | None
) -> None:
    """Suppress one or more addresses.

    \b
    Example:
      mailcrm-cli suppressions add jane@example.com bob@example.com --reason "asked by phone"
    """
    base = {"type": type_, "reason": reason}
    if domain:
        base["domain_id"] = domain_id(state, domain)
    created = [state.client.post("suppressions", {**base, "email": email}) for email in emails]
    state.show_many(created, SUPPRESSION_COLUMNS)


@suppressions.command("remove")
@click.argument("refs", nargs=-1, required=True, metavar="ID_OR_EMAIL...")
@click.option("--domain", help="With an email: only this domain's suppression.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def suppressions_remove(state: State, refs: tuple[str, ...], domain: str | None, yes: bool) -> None:
    """Remove suppressions by id, or every suppression of an address.

    \b
    Example:
      mailcrm-cli suppressions remove jane@example.com --yes
    """
    ids: list[tuple[str, str]] = []
    scope = {"domain_id": domain_id(state, domain)} if domain else {}
    for ref in refs:
        if is_uuid(ref):
            ids.append((ref, ref))
            continue
        found = list(state.client.paginate("suppressions", {"email": ref, **scope}, limit=None))
        if not found:
            raise CliError(f"{ref} is not suppressed.")
        ids += [(item["id"], item["email"]) for item in found]
    confirm(state, yes, f"Remove {len(ids)} suppression(s)?")
    for sid, label in ids:
        state.client.delete(f"suppressions/{seg(sid)}")
        state.note(f"Removed {label} ({sid}).")


@click.command()
@click.argument("emails", nargs=-1, required=True)
@json_option
@pass_state
def validate(state: State, emails: tuple[str, ...]) -> None:
    """Validate addresses: syntax, domain and mail server, disposable, role, free provider.

    The exit code is 0 whatever the verdicts; read RESULT (valid, invalid, risky, unknown).

    \b
    Example:
      mailcrm-cli validate jane@example.com info@gmial.com
    """
    results = [state.client.post("validation/email", {"email": email}) for email in emails]
    if state.json:
        state.show(results)
        return
    rows = [
        {
            "email": r.get("email"),
            "result": r.get("result"),
            "reasons": r.get("reasons"),
            "suggestion": r.get("suggestion"),
        }
        for r in results
    ]
    state.show_many(rows, ["email", "result", "reasons", "suggestion"])


def register(cli: click.Group) -> None:
    for command in (domains, suppressions, validate):
        cli.add_command(command)
