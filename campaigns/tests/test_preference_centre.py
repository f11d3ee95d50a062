"""The preference centre offers the three unsubscribe layers — each list, the sending domain
(brand) of the message, and all mail — with typed reasons; the contact page and the admin show
and make them."""

from __future__ import annotations

import pytest

from campaigns.models import Campaign, Message
from campaigns.tokens import make_token
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability import services
from deliverability.models import SendingDomain, Unsubscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(workspace):
    weekly = ContactListFactory(workspace=workspace, name="Weekly")
    offers = ContactListFactory(workspace=workspace, name="Offers")
    brand = SendingDomain.objects.create(workspace=workspace, domain="brand-a.example")
    jane = ContactFactory(workspace=workspace, email="jane@example.com")
    ListMembershipFactory(contact=jane, contact_list=weekly)
    ListMembershipFactory(contact=jane, contact_list=offers)
    campaign = Campaign.objects.create(
        workspace=workspace, name="News", from_email="news@brand-a.example", sending_domain=brand
    )
    message = Message.objects.create(
        workspace=workspace, campaign=campaign, contact=jane, email=jane.email
    )
    url = f"/p/{make_token('preferences', message.id)}"
    return {"weekly": weekly, "offers": offers, "brand": brand, "jane": jane, "url": url}


def test_the_page_offers_lists_the_brand_and_all_mail(client, setup):
    page = client.get(setup["url"]).content.decode()
    assert "Weekly" in page and "Offers" in page
    assert "Receive email from brand-a.example" in page
    assert "Unsubscribe from all email" in page
    assert 'value="too_frequent"' in page and 'name="reason_text"' in page


def test_unticking_a_list_leaves_it_with_the_reason_and_keeps_the_others(client, setup, workspace):
    response = client.post(
        setup["url"],
        {
            "action": "save",
            "lists": [str(setup["offers"].id)],
            "brand": "on",
            "reason": "too_frequent",
            "reason_text": "Weekly is a lot",
        },
    )
    assert response.status_code == 200
    left = Unsubscribe.objects.get()
    assert (left.contact_list, left.reason, left.reason_text, left.source) == (
        setup["weekly"],
        "too_frequent",
        "Weekly is a lot",
        "preferences",
    )
    # Still a member (an import cannot re-add them), no longer receiving.
    assert set(setup["jane"].lists.all()) == {setup["weekly"], setup["offers"]}
    page = response.content.decode()
    assert f'value="{setup["weekly"].id}">' in page  # unticked now
    assert f'value="{setup["offers"].id}" checked>' in page
    assert not services.is_unsubscribed(workspace, "jane@example.com")


def test_ticking_a_list_again_lifts_the_list_unsubscribe(client, setup):
    services.unsubscribe_record(
        workspace=setup["jane"].workspace,
        email="jane@example.com",
        source="api",
        contact_list=setup["weekly"],
    )
    lists = [str(setup["weekly"].id), str(setup["offers"].id)]
    client.post(setup["url"], {"action": "save", "lists": lists, "brand": "on"})
    assert not Unsubscribe.objects.exists()


def test_unticking_the_brand_stops_that_domain(client, setup):
    lists = [str(setup["weekly"].id), str(setup["offers"].id)]
    client.post(setup["url"], {"action": "save", "lists": lists, "reason": "not_relevant"})
    entry = Unsubscribe.objects.get()
    assert entry.domain == setup["brand"] and entry.reason == "not_relevant"
    client.post(setup["url"], {"action": "save", "lists": lists, "brand": "on"})
    assert not Unsubscribe.objects.exists()


def test_unsubscribe_from_all_with_a_reason_then_subscribe_again(client, setup):
    response = client.post(setup["url"], {"action": "unsubscribe_all", "reason": "never_signed_up"})
    assert "unsubscribed from all marketing email" in response.content.decode()
    entry = Unsubscribe.objects.get()
    assert entry.scope == "global" and entry.reason == "never_signed_up"
    setup["jane"].refresh_from_db()
    assert setup["jane"].status == "unsubscribed"
    client.post(setup["url"], {"action": "resubscribe"})
    setup["jane"].refresh_from_db()
    assert setup["jane"].status == "active" and not Unsubscribe.objects.exists()


def test_an_unknown_reason_is_ignored_not_an_error(client, setup):
    response = client.post(setup["url"], {"action": "unsubscribe_all", "reason": "<script>"})
    assert response.status_code == 200
    assert Unsubscribe.objects.get().reason == ""


def test_a_forged_token_is_not_found(client, setup):
    assert client.get("/p/forged-token").status_code == 404
    assert client.post("/p/forged-token", {"action": "unsubscribe_all"}).status_code == 404
    assert not Unsubscribe.objects.exists()


def test_the_contact_page_shows_the_layers_in_force(dashboard, setup, workspace, outsider):
    services.unsubscribe_record(
        workspace=workspace,
        email="jane@example.com",
        source="api",
        contact_list=setup["weekly"],
        reason="too_frequent",
    )
    services.suppression_add(workspace=workspace, email="jane@example.com", type="soft_bounce")
    services.unsubscribe_record(
        workspace=outsider.workspace, email="jane@example.com", source="api"
    )
    page = dashboard.get(f"/contacts/{setup['jane'].id}/").content.decode()
    section = page[page.index('id="mailing-layers"') :]
    assert 'data-scope="list"' in section and "list Weekly" in section
    assert "soft_bounce" in section and "until" in section
    assert 'data-scope="global"' in section  # the soft bounce: a global suppression
    assert section.count("Unsubscribed") == 1  # the outsider's unsubscribe is not shown


def test_the_admin_records_a_list_unsubscribe(admin_client, setup, workspace):
    response = admin_client.post(
        "/admin/deliverability/unsubscribe/add/",
        {
            "workspace": str(workspace.id),
            "email": "jane@example.com",
            "contact_list": str(setup["weekly"].id),
            "reason": "other",
            "reason_text": "asked by phone",
            "source": "manual",
        },
    )
    assert response.status_code == 302
    entry = Unsubscribe.objects.get()
    assert entry.scope == "list" and entry.reason_text == "asked by phone"


def test_the_dashboards_unsubscribes_list_shows_layer_and_reason(dashboard, setup, workspace):
    services.unsubscribe_record(
        workspace=workspace,
        email="jane@example.com",
        source="preferences",
        contact_list=setup["weekly"],
        reason="too_frequent",
        reason_text="Weekly is a lot",
    )
    page = dashboard.get("/unsubscribes/", {"scope": "list"}).content.decode()
    assert "List Weekly" in page and "Too many emails" in page and "Weekly is a lot" in page


def test_the_unsubscribe_page_takes_a_reason_too(client, setup, workspace, outsider):
    message = Message.objects.get(contact=setup["jane"])
    url = f"/u/{make_token('unsubscribe', message.id)}"
    page = client.get(url).content.decode()
    assert 'value="never_signed_up"' in page and 'name="reason_text"' in page
    assert not Unsubscribe.objects.exists()  # a GET changes nothing
    client.post(url, {"reason": "never_signed_up", "reason_text": " Who are you? "})
    left = Unsubscribe.objects.get()
    assert (left.contact_list, left.domain, left.reason, left.reason_text, left.source) == (
        None,
        None,
        "never_signed_up",
        "Who are you?",
        "link",
    )
    assert services.is_unsubscribed(workspace, "jane@example.com")
    assert not Unsubscribe.objects.filter(workspace=outsider.workspace).exists()


def test_an_unknown_reason_is_ignored_not_refused(client, setup):
    message = Message.objects.get(contact=setup["jane"])
    url = f"/u/{make_token('unsubscribe', message.id)}"
    assert client.post(url, {"reason": "<script>", "reason_text": "x" * 5000}).status_code == 200
    left = Unsubscribe.objects.get()
    assert (left.reason, len(left.reason_text)) == ("", 1000)
