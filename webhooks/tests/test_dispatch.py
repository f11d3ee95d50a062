"""Which endpoints hear which events: event filters, domain scopes (domain-scoped first),
endpoints created after an event, and never another workspace's events."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageKind
from contacts.tests.factories import ContactFactory
from deliverability.models import SendingDomain
from mailcrm import events
from mailcrm.models import Event
from mailcrm.tests.factories import WorkspaceFactory
from webhooks import dispatch
from webhooks.models import WebhookDelivery
from webhooks.tests.factories import WebhookEndpointFactory


def emit(workspace, event_type=events.CONTACT_CREATED, subject_id=None, **data):
    with transaction.atomic():
        return events.emit(workspace, event_type, subject_id=subject_id, data=data)


def delivered_to(endpoint) -> list[str]:
    return sorted(
        WebhookDelivery.objects.filter(endpoint=endpoint).values_list("event_type", flat=True)
    )


@pytest.fixture
def domains(workspace):
    return [
        SendingDomain.objects.create(workspace=workspace, domain=name)
        for name in ("news.example.com", "billing.example.com")
    ]


def campaign_message(workspace, domain, *, from_email=""):
    campaign = Campaign.objects.create(
        workspace=workspace, name="News", sending_domain=domain, from_email=from_email
    )
    contact = ContactFactory(workspace=workspace)
    return Message.objects.create(
        workspace=workspace,
        campaign=campaign,
        contact=contact,
        kind=MessageKind.CAMPAIGN,
        email=contact.email,
    )


def test_an_endpoint_hears_only_the_events_it_asked_for(workspace):
    everything = WebhookEndpointFactory(workspace=workspace)
    opens_only = WebhookEndpointFactory(workspace=workspace, events=["email.opened"])
    emit(workspace, events.CONTACT_CREATED)
    emit(workspace, events.EMAIL_OPENED)

    dispatch.dispatch_pending()

    assert delivered_to(everything) == ["contact.created", "email.opened"]
    assert delivered_to(opens_only) == ["email.opened"]


def test_domain_scoped_endpoints_hear_their_domains_mail_and_go_first(workspace, domains):
    news, billing = domains
    workspace_wide = WebhookEndpointFactory(workspace=workspace)
    news_only = WebhookEndpointFactory(workspace=workspace)
    news_only.domains.set([news])
    both = WebhookEndpointFactory(workspace=workspace)
    both.domains.set([news, billing])
    news_message = campaign_message(workspace, news)
    billing_message = campaign_message(workspace, None, from_email="bills@billing.example.com")

    opened = emit(workspace, events.EMAIL_OPENED, subject_id=news_message.pk)
    emit(workspace, events.EMAIL_CLICKED, subject_id=billing_message.pk)
    emit(workspace, events.CONTACT_CREATED)

    made = dispatch._deliveries_for([opened], timezone.now())
    assert [delivery.endpoint for delivery in made][-1] == workspace_wide  # scoped ones first
    dispatch.dispatch_pending()
    assert delivered_to(workspace_wide) == ["contact.created", "email.clicked", "email.opened"]
    assert delivered_to(news_only) == ["email.opened"]
    assert delivered_to(both) == ["email.clicked", "email.opened"]


def test_email_events_carry_email_id_tag_and_metadata_at_the_top(workspace):
    WebhookEndpointFactory(workspace=workspace)
    emit(
        workspace,
        events.EMAIL_DELIVERED,
        email_id="0190b5a0-0000-7000-8000-000000000001",
        tag="welcome",
        metadata={"user": 7},
        email="ada@example.com",
    )
    dispatch.dispatch_pending()

    payload = WebhookDelivery.objects.get().payload
    assert payload["event"] == "email.delivered"
    assert payload["email_id"] == "0190b5a0-0000-7000-8000-000000000001"
    assert payload["tag"] == "welcome" and payload["metadata"] == {"user": 7}
    assert payload["data"] == {"email": "ada@example.com"}
    assert payload["timestamp"].endswith("Z")


def test_an_endpoint_made_after_an_event_does_not_get_it(workspace):
    event = emit(workspace)
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    endpoint = WebhookEndpointFactory(workspace=workspace)

    dispatch.dispatch_pending()

    assert delivered_to(endpoint) == []
    assert Event.objects.get(pk=event.pk).dispatched_at is not None


def test_inactive_endpoints_hear_nothing(workspace):
    endpoint = WebhookEndpointFactory(workspace=workspace, is_active=False)
    emit(workspace)
    dispatch.dispatch_pending()
    assert delivered_to(endpoint) == []


def test_another_workspaces_events_never_reach_an_endpoint(workspace):
    outsider = WorkspaceFactory()
    ours = WebhookEndpointFactory(workspace=workspace)
    theirs = WebhookEndpointFactory(workspace=outsider)
    emit(outsider, email="secret@outsider.example")

    dispatch.dispatch_pending()

    assert delivered_to(ours) == []
    assert delivered_to(theirs) == ["contact.created"]
    assert WebhookDelivery.objects.get().workspace == outsider


def test_dispatch_works_through_a_backlog_in_batches(workspace):
    endpoint = WebhookEndpointFactory(workspace=workspace)
    with transaction.atomic():
        events.emit_many(workspace, events.CONTACT_UPDATED, [(None, {"n": n}) for n in range(25)])

    assert dispatch.dispatch_pending(batch=10) == 25
    assert len(delivered_to(endpoint)) == 25
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
