"""webhooks, events tail and keys against a live server."""

import json
import threading
import time

import httpx
import pytest

from mailcrm.models import ApiKey
from webhooks.models import WebhookDelivery
from webhooks.tests.factories import WebhookEndpointFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_webhooks_list_deliveries_and_retry(cli, api, workspace, receiver):
    endpoint = WebhookEndpointFactory(workspace=workspace, url=receiver.url, name="CRM sync")
    assert api.post(f"/api/v1/customer/webhooks/{endpoint.pk}/test").status_code == 202
    assert len(receiver.requests) == 1

    listed = cli.ok("webhooks", "list").stdout
    assert "CRM sync" in listed and receiver.url in listed
    deliveries = cli.json("webhooks", "deliveries", str(endpoint.pk))
    assert [d["event_type"] for d in deliveries] == ["webhook.test"]
    assert "succeeded" in cli.ok("webhooks", "deliveries", str(endpoint.pk)).stdout
    assert cli.json("webhooks", "deliveries", str(endpoint.pk), "--status", "failed") == []

    retried = cli.json("webhooks", "retry", str(endpoint.pk), deliveries[0]["id"])
    assert retried["id"] == deliveries[0]["id"]
    assert len(receiver.requests) == 2
    assert WebhookDelivery.objects.get(pk=deliveries[0]["id"]).attempts == 2

    result = cli("webhooks", "deliveries", "00000000-0000-0000-0000-000000000000")
    assert result.exit_code == 1 and "404" in result.stderr


def test_events_tail_once_prints_recent_events_oldest_first(cli, workspace):
    for name in ("ann", "ben", "cy"):
        cli.ok("contacts", "create", f"{name}@example.com")
    lines = cli.ok("events", "tail", "--once", "--type", "contact.*").stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["contact.created"] * 3
    assert "ann@example.com" in lines[0] and "cy@example.com" in lines[2]
    last_two = cli.ok("events", "tail", "--once", "-n", "2", "--json").stdout.splitlines()
    assert [json.loads(line)["data"]["email"] for line in last_two] == [
        "ben@example.com",
        "cy@example.com",
    ]


def test_events_tail_follows_new_events(cli, workspace):
    cli.ok("contacts", "create", "old@example.com")

    def create_later():
        time.sleep(0.8)
        httpx.post(
            f"{cli.url}/api/v1/contacts",
            json={"email": "new@example.com"},
            headers={"X-API-Key": cli.key},
        )

    thread = threading.Thread(target=create_later)
    thread.start()
    started = time.monotonic()
    result = cli.ok("events", "tail", "-n", "0", "--max", "1", "--interval", "0.2", "--json")
    thread.join()
    event = json.loads(result.stdout)
    assert event["type"] == "contact.created" and event["data"]["email"] == "new@example.com"
    assert time.monotonic() - started < 20


def test_keys_create_list_rotate_and_revoke(cli, workspace, api_key):
    created = cli.ok("keys", "create", "CI deploys")
    secret = next(
        line.split()[1] for line in created.stdout.splitlines() if line.startswith("key ")
    )
    assert "not shown again" in created.stderr
    key_id = next(line.split()[1] for line in created.stdout.splitlines() if line.startswith("id"))

    listed = cli.json("keys", "list")
    assert {k["name"] for k in listed} == {api_key.name, "CI deploys"}
    assert "key" not in listed[0]
    assert "Acme" in cli("whoami", key=secret).stdout

    rotated = cli.json("keys", "rotate", key_id)
    assert rotated["key"] != secret
    assert cli("whoami", key=secret).exit_code == 4
    assert cli("whoami", key=rotated["key"]).exit_code == 0

    cli.ok("keys", "revoke", key_id, "--yes")
    assert ApiKey.objects.get(pk=key_id).revoked_at is not None
    result = cli("whoami", key=rotated["key"])
    assert result.exit_code == 4 and "Invalid or revoked API key." in result.stderr
