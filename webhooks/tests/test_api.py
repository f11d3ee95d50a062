"""The /customer/webhooks API: the secret shown once and encrypted at rest, validation,
the plan limit, deliveries with their attempts, test and retry, and another workspace's
endpoints answering 404."""

import pytest

from deliverability.models import SendingDomain
from mailcrm import crypto
from mailcrm.tests.factories import WorkspaceFactory
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.tests.factories import WebhookEndpointFactory

URL = "/api/v1/customer/webhooks"


def test_create_shows_the_secret_once_and_stores_it_encrypted(api, workspace, receiver):
    response = api.post(
        URL,
        {"url": receiver.url, "name": "CRM sync", "events": ["contact.created"]},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["contact.created"] and body["domain_ids"] == []
    stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert stored.secret != body["secret"] and crypto.decrypt(stored.secret) == body["secret"]
    listed = api.get(URL).json()["results"]
    assert [item["id"] for item in listed] == [body["id"]]
    assert "secret" not in listed[0] and "secret" not in api.get(f"{URL}/{body['id']}").json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "not a url"}, "url"),
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "http://93.184.216.34/", "events": ["email.teleported"]}, "events"),
        ({}, "url"),
    ],
)
def test_bad_endpoints_are_400s(api, body, field):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400
    assert any(name.startswith(field) for name in response.json()["error"]["fields"])


def test_a_private_target_is_refused_when_the_setting_is_off(api, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = api.post(URL, {"url": "http://169.254.169.254/latest"}, format="json")
    assert response.status_code == 400
    assert "private or reserved" in response.json()["error"]["fields"]["url"][0]


def test_domain_scope_is_limited_to_the_workspaces_domains(api, workspace, receiver):
    ours = SendingDomain.objects.create(workspace=workspace, domain="news.example.com")
    theirs = SendingDomain.objects.create(workspace=WorkspaceFactory(), domain="x.example")
    created = api.post(URL, {"url": receiver.url, "domain_ids": [str(ours.pk)]}, format="json")
    assert created.status_code == 201 and created.json()["domain_ids"] == [str(ours.pk)]

    response = api.patch(
        f"{URL}/{created.json()['id']}", {"domain_ids": [str(theirs.pk)]}, format="json"
    )
    assert response.status_code == 400
    cleared = api.patch(f"{URL}/{created.json()['id']}", {"domain_ids": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["domain_ids"] == []


def test_the_plan_limit_is_enforced(api, workspace, receiver):
    workspace.limit_webhook_endpoints = 1
    workspace.save()
    assert api.post(URL, {"url": receiver.url}, format="json").status_code == 201
    response = api.post(URL, {"url": receiver.url}, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "limit_exceeded"


def test_turning_an_endpoint_back_on_clears_its_notice(api, workspace):
    endpoint = WebhookEndpointFactory(
        workspace=workspace, is_active=False, disabled_reason="410 Gone"
    )
    response = api.patch(f"{URL}/{endpoint.pk}", {"is_active": True}, format="json")
    assert response.status_code == 200
    assert response.json()["disabled_reason"] == "" and response.json()["is_active"]


def test_rotate_returns_a_new_secret(api, workspace):
    endpoint = WebhookEndpointFactory(workspace=workspace)
    response = api.post(f"{URL}/{endpoint.pk}/rotate")
    assert response.status_code == 200
    new_secret = response.json()["secret"]
    endpoint.refresh_from_db()
    assert crypto.decrypt(endpoint.secret) == new_secret != endpoint.plain_secret
    assert crypto.decrypt(endpoint.previous_secret) == endpoint.plain_secret


def test_test_event_deliveries_and_retry(
    api, workspace, receiver, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpointFactory(workspace=workspace, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{URL}/{endpoint.pk}/test")
    assert response.status_code == 202
    assert len(receiver.requests) == 1

    deliveries = api.get(f"{URL}/{endpoint.pk}/deliveries").json()["results"]
    assert deliveries[0]["event_type"] == "webhook.test"
    assert deliveries[0]["status"] == "succeeded"
    assert deliveries[0]["log"][0]["status_code"] == 200
    assert api.get(f"{URL}/{endpoint.pk}/deliveries?status=failed").json()["results"] == []

    delivery_id = deliveries[0]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        retried = api.post(f"{URL}/{endpoint.pk}/deliveries/{delivery_id}/retry")
    assert retried.status_code == 202
    assert len(receiver.requests) == 2
    assert WebhookDelivery.objects.get(pk=delivery_id).attempts == 2


def test_another_workspaces_endpoint_is_not_found(api, workspace):
    theirs = WebhookEndpointFactory(workspace=WorkspaceFactory())
    delivery = WebhookDelivery.objects.create(
        workspace=theirs.workspace, endpoint=theirs, event_type="webhook.test", payload={}
    )
    base = f"{URL}/{theirs.pk}"

    assert api.get(base).status_code == 404
    assert api.patch(base, {"name": "mine"}, format="json").status_code == 404
    assert api.post(f"{base}/test").status_code == 404
    assert api.post(f"{base}/rotate").status_code == 404
    assert api.get(f"{base}/deliveries").status_code == 404
    assert api.post(f"{base}/deliveries/{delivery.pk}/retry").status_code == 404
    assert api.delete(base).status_code == 404
    assert api.get(URL).json()["results"] == []
    ours = WebhookEndpointFactory(workspace=workspace)
    assert api.post(f"{URL}/{ours.pk}/deliveries/{delivery.pk}/retry").status_code == 404
    assert api.post(f"{URL}/{ours.pk}/deliveries/not-a-uuid/retry").status_code == 404


def test_delete(api, workspace):
    endpoint = WebhookEndpointFactory(workspace=workspace)
    assert api.delete(f"{URL}/{endpoint.pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()
