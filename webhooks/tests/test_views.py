"""Dashboard pages of webhooks: admins and owners only, the secret shown once, the delivery log
with filters, test and retry buttons, and another workspace's endpoints answering 404."""

import pytest
from django.urls import reverse

from mailcrm import crypto
from mailcrm.tests.factories import WorkspaceFactory
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.tests.factories import WebhookEndpointFactory


def url(name, *args):
    return reverse(f"dashboard:webhooks:{name}", args=args)


@pytest.fixture
def endpoint(workspace, receiver):
    return WebhookEndpointFactory(workspace=workspace, url=receiver.url, name="CRM sync")


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_only_admins_and_owners_see_webhooks(client, request, role, endpoint):
    client.force_login(request.getfixturevalue(role))
    assert client.get(url("endpoints")).status_code == 403
    assert client.get(url("endpoint", endpoint.pk)).status_code == 403
    assert client.post(url("endpoint_test", endpoint.pk)).status_code == 403


def test_create_shows_the_secret_once(client, admin_user, workspace, receiver):
    client.force_login(admin_user)
    assert client.get(url("endpoints")).status_code == 200
    response = client.post(
        url("endpoint_new"),
        {"name": "Sync", "url": receiver.url, "events": ["contact.created"], "is_active": "on"},
    )

    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    secret = crypto.decrypt(endpoint.secret)
    assert secret.encode() in response.content
    assert endpoint.events == ["contact.created"]
    detail = client.get(url("endpoint", endpoint.pk))
    assert detail.status_code == 200 and secret.encode() not in detail.content


def test_bad_input_is_shown_on_the_form(client, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    client.force_login(owner)
    response = client.post(url("endpoint_new"), {"url": "http://10.0.0.1/hooks"})
    assert response.status_code == 200
    assert b"private or reserved" in response.content
    assert not WebhookEndpoint.objects.exists()


def test_test_button_retry_and_filters(
    client, owner, endpoint, receiver, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        posted = client.post(url("endpoint_test", endpoint.pk))
    assert posted.status_code == 302
    assert len(receiver.requests) == 1
    response = client.get(url("endpoint", endpoint.pk))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert b"webhook.test" in response.content and b"HTTP 200" in response.content

    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("delivery_retry", endpoint.pk, delivery.pk))
    assert len(receiver.requests) == 2
    failed_only = client.get(url("endpoint", endpoint.pk), {"status": "failed"})
    assert b"No deliveries match" in failed_only.content


def test_rotate_shows_the_new_secret(client, owner, endpoint):
    client.force_login(owner)
    response = client.post(url("endpoint_rotate", endpoint.pk))
    endpoint.refresh_from_db()
    assert crypto.decrypt(endpoint.secret).encode() in response.content


def test_edit_and_delete(client, owner, endpoint):
    client.force_login(owner)
    response = client.post(
        url("endpoint_edit", endpoint.pk),
        {"name": "Renamed", "url": endpoint.url, "events": ["email.opened"]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.events, endpoint.is_active) == (
        "Renamed",
        ["email.opened"],
        False,
    )
    assert client.get(url("endpoint_delete", endpoint.pk)).status_code == 200
    client.post(url("endpoint_delete", endpoint.pk))
    assert not WebhookEndpoint.objects.exists()


def test_another_workspaces_endpoint_is_not_found(client, owner):
    theirs = WebhookEndpointFactory(workspace=WorkspaceFactory())
    client.force_login(owner)
    for name in ("endpoint", "endpoint_edit", "endpoint_delete"):
        assert client.get(url(name, theirs.pk)).status_code == 404
    for name in ("endpoint_test", "endpoint_rotate", "endpoint_delete"):
        assert client.post(url(name, theirs.pk)).status_code == 404
    assert b"No webhook endpoints yet" in client.get(url("endpoints")).content


def test_the_workspaces_own_inbound_esp_url_is_shown(client, owner, workspace):
    from webhooks.inbound import workspace_from_token

    client.force_login(owner)
    page = client.get(url("endpoints")).content.decode()
    token = page.split("/webhooks/anymail/w/")[1].split("/")[0]
    assert workspace_from_token(token) == workspace.pk
