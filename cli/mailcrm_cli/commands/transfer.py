"""``import`` (CSV upload, progress) and ``export`` (streamed CSV)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from mailcrm_cli.client import CliError
from mailcrm_cli.core import State, find_id, json_option, parse_pairs, pass_state, seg

FINISHED = ("done", "failed")
SUMMARY = ["id", "status", "filename", "total_rows", "processed", "created", "updated", "skipped"]


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="CSV column to email, a standard field or properties.<key> (repeatable); "
    "unmapped columns are guessed from the headers when no --map is given.",
)
@click.option("--list", "list_ref", help="Add every imported contact to this list (id or name).")
@click.option("--tags", multiple=True, help="Comma-separated tags for every contact (repeatable).")
@click.option(
    "--update-existing/--skip-existing",
    default=True,
    show_default=True,
    help="Update contacts that already exist, or leave them as they are.",
)
@click.option("--validate-emails", is_flag=True, help="Check each address (syntax, domain, MX).")
@click.option("--wait", is_flag=True, help="Follow the import to the end with a progress bar.")
@click.option(
    "--interval", type=float, default=1.0, show_default=True, help="Seconds between polls."
)
@json_option
@pass_state
def import_(
    state: State,
    file: Path,
    mapping: tuple[str, ...],
    list_ref: str | None,
    tags: tuple[str, ...],
    update_existing: bool,
    validate_emails: bool,
    wait: bool,
    interval: float,
) -> None:
    """Import contacts from a CSV FILE (runs in the background on the server).

    Without --wait the import's id is printed; follow it later with
    `mailcrm-cli import-status ID`. With --wait, the exit code is 1 if the import failed.

    \b
    Examples:
      mailcrm-cli import people.csv --wait
      mailcrm-cli import crm.csv --map E-mail=email --map "First Name=first_name" \\
          --map Plan=properties.plan --list Newsletter --tags imported,2025 --wait
    """
    form: dict[str, Any] = {"update_existing": "true" if update_existing else "false"}
    if validate_emails:
        form["validate_emails"] = "true"
    if mapping:
        form["mapping"] = json.dumps(parse_pairs(mapping, "--map"))
    names = [name.strip() for group in tags for name in group.split(",") if name.strip()]
    if names:
        form["tags"] = ",".join(names)
    if list_ref:
        form["list_id"] = find_id(state, "lists", list_ref, what="list")
    # Bytes rather than an open file, so that a retried request sends the whole file again.
    upload = {"file": (file.name, file.read_bytes(), "text/csv")}
    started = state.client.request("POST", "imports", data=form, files=upload)
    if not wait:
        if state.json:
            state.show(started)
        else:
            click.echo(started["id"])
            state.note(f"Import {started['status']}: mailcrm-cli import-status {started['id']}")
        return
    job = follow(state, started["id"], interval)
    show_job(state, job)
    if job["status"] == "failed":
        raise CliError(f"The import failed: {job.get('failure_reason') or 'see the errors'}")


def follow(state: State, job_id: str, interval: float) -> dict:
    """Poll the import until it is done or failed, showing its progress on stderr: a bar
    redrawn in place on a terminal, else one line per change (readable in CI logs)."""
    job = state.client.get(f"imports/{seg(job_id)}")
    live = not (state.quiet or state.json)
    tty = live and _is_tty()
    last = None
    while True:
        if live:
            line = progress_line(job)
            if tty:
                click.echo("\r" + line, nl=False, err=True)
            elif line != last:
                click.echo(line, err=True)
            last = line
        if job["status"] in FINISHED:
            break
        time.sleep(interval)
        job = state.client.get(f"imports/{seg(job_id)}")
    if tty:
        click.echo("", err=True)
    return job


def _is_tty() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_line(job: dict, width: int = 30) -> str:
    """``Importing people.csv [##########----] 70/100  70% running``"""
    total = job.get("total_rows") or 0
    processed = job.get("processed") or 0
    if job["status"] == "done":
        processed = max(processed, total)
    fraction = min(processed / total, 1.0) if total else (1.0 if job["status"] == "done" else 0.0)
    filled = int(round(fraction * width))
    bar = "#" * filled + "-" * (width - filled)
    name = job.get("filename") or job["id"]
    return f"Importing {name} [{bar}] {processed}/{total} {fraction:4.0%} {job['status']}"


def show_job(state: State, job: dict) -> None:
    if state.json:
        state.show(job)
        return
    state.show({key: job.get(key) for key in SUMMARY})
    if job.get("failure_reason"):
        click.echo(f"failure_reason  {job['failure_reason']}")
    errors = job.get("errors") or []
    if errors:
        click.echo(f"{job.get('error_count', len(errors))} row(s) refused:")
        for error in errors[:20]:
            click.echo(f"  row {error.get('row')}: {error.get('reason')}")
        if len(errors) > 20:
            click.echo(f"  … and {len(errors) - 20} more (see --json)")


@click.command("import-status")
@click.argument("import_id")
@click.option("--wait", is_flag=True, help="Follow it to the end with a progress bar.")
@click.option("--interval", type=float, default=1.0, show_default=True)
@json_option
@pass_state
def import_status(state: State, import_id: str, wait: bool, interval: float) -> None:
    """Show the progress and result of an import (rows created, updated, refused).

    \b
    Example:
      mailcrm-cli import-status 0190f7c2-… --wait
    """
    job = (
        follow(state, import_id, interval)
        if wait
        else state.client.get(f"imports/{seg(import_id)}")
    )
    show_job(state, job)
    if wait and job["status"] == "failed":
        raise CliError(f"The import failed: {job.get('failure_reason') or 'see the errors'}")


@click.command("export")
@click.option("--query", metavar="QUERY", help="Segment query language filter.")
@click.option("--status", type=click.Choice(["active", "unsubscribed", "bounced", "complained"]))
@click.option("--tag")
@click.option("--list", "list_", help="List id or name.")
@click.option("--segment", help="Segment id or name.")
@click.option("-s", "--search", "q", metavar="TEXT", help="Free-text search.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="Write here instead of standard output.",
)
@pass_state
def export(state: State, output: str, list_: str | None, **filters: Any) -> None:
    """Export contacts as CSV, streamed as the server writes it.

    Columns: standard fields, tags, lists, then properties.<key> for every property.

    \b
    Examples:
      mailcrm-cli export > contacts.csv
      mailcrm-cli export --query 'tag = vip AND status = active' -o vips.csv
    """
    params = dict(filters, list=list_)
    written = 0
    with state.client.stream("contacts/export", **params) as response:
        with click.open_file(output, "wb") as target:
            for chunk in response.iter_bytes():
                target.write(chunk)
                target.flush()
                written += len(chunk)
    if output != "-":
        state.note(f"Wrote {written} bytes to {output}.")


def register(cli: click.Group) -> None:
    for command in (import_, import_status, export):
        cli.add_command(command)
