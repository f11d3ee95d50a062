"""Subscription forms: the builder, the hosted page and its POST (abuse guards, no open
redirect), double opt-in with consent recorded, and the event automations hear."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.urls import reverse

from campaigns.models import Message
from contacts.models import Activity, ActivityKind, Contact, ListMembership
from contacts.tests.factories import ContactFactory, ContactListFactory, PropertyDefinitionFactory
from mailcrm.models import Event
from privacy.services import contact_erase
from subscriptions import public, services
from subscriptions.models import Consent, ConsentStatus, SubscriptionForm

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def news(workspace):
    return ContactListFactory(workspace=workspace, name="News", double_opt_in=False)


@pytest.fixture
def form(workspace, news):
    PropertyDefinitionFactory(workspace=workspace, key="industry", label="Industry", type="text")
    return SubscriptionForm.objects.create(
        workspace=workspace,
        name="Footer",
        contact_list=news,
        fields=["first_name", "properties.industry"],
        success_message="Welcome aboard!",
    )


def _post(client, form, **data):
    return client.post(f"/f/{form.pk}", {"email": "new@example.com", **data})


def test_the_hosted_page_shows_the_fields(client, form):
    page = client.get(f"/f/{form.pk}").content.decode()
    assert 'name="first_name"' in page and 'name="properties.industry"' in page
    assert 'name="website"' in page  # the honeypot


def test_single_opt_in_subscribes_at_once_with_consent_and_event(client, form, news):
    response = _post(client, form, first_name="Nia", **{"properties.industry": "SaaS"})
    assert response.status_code == 200 and b"Welcome aboard!" in response.content
    contact = Contact.objects.get(email="new@example.com")
    assert (contact.first_name, contact.properties, contact.source) == (
        "Nia",
        {"industry": "SaaS"},
        "form",
    )
    assert ListMembership.objects.filter(contact=contact, contact_list=news).exists()
    consent = Consent.objects.get(contact=contact)
    assert (consent.status, consent.form, consent.ip_address) == ("confirmed", form, "127.0.0.1")
    event = Event.objects.get(type="form.submitted")
    assert event.data["form_id"] == str(form.pk) and event.subject_id == contact.pk
    assert Activity.objects.filter(
        contact=contact, kind=ActivityKind.CONSENT, subject__contains="Footer"
    ).exists()


def test_the_timeline_shows_a_sign_up_and_its_confirmation_as_consent(dashboard, form, news):
    news.double_opt_in = True
    news.save()
    sign_up = services.form_submit(form=form, data={"email": "new@example.com"})
    services.consent_confirm(consent=sign_up.consent, ip_address="203.0.113.9")
    kinds = Activity.objects.filter(contact=sign_up.consent.contact).values_list("kind", flat=True)
    assert list(kinds).count(ActivityKind.CONSENT) == 2
    page = dashboard.get(f"/contacts/{sign_up.consent.contact_id}/").content.decode()
    assert (
        "Consent</strong>: Signed up through the form “Footer” (waiting for confirmation)" in page
    )
    assert "Consent</strong>: Confirmed the subscription to News" in page


def test_double_opt_in_waits_for_the_link(client, form, news):
    news.double_opt_in = True
    news.save()
    response = _post(client, form)
    assert b"Check your inbox" in response.content
    contact = Contact.objects.get(email="new@example.com")
    assert not ListMembership.objects.filter(contact=contact).exists()
    assert not Event.objects.filter(type="form.submitted").exists()
    consent = Consent.objects.get(contact=contact)
    assert consent.status == ConsentStatus.PENDING
    mail = Message.objects.get(email="new@example.com", tag="double-opt-in")
    # The token is timestamped: read the link the mail carries.
    link = re.search(r"https?://\S+/f/confirm/\S+", mail.payload["text"]).group(0)
    token = link.rsplit("/", 1)[1]
    assert services.consent_from_token(token) == consent

    path = link.split("//", 1)[1].split("/", 1)[1]
    assert b"Yes, subscribe me" in client.get(f"/{path}").content
    assert not ListMembership.objects.filter(contact=contact).exists()  # GET changes nothing
    assert b"Subscription confirmed" in client.post(f"/{path}").content
    assert ListMembership.objects.filter(contact=contact, contact_list=news).exists()
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.CONFIRMED and consent.confirmed_at
    client.post(f"/{path}")  # a replay changes nothing
    assert Event.objects.filter(type="form.submitted").count() == 1


def test_a_forged_confirmation_link_is_not_found(client):
    assert client.get("/f/confirm/forged").status_code == 404


def test_the_honeypot_pretends_and_stores_nothing(client, form):
    response = _post(client, form, website="http://spam.example")
    assert response.status_code == 200
    assert not Contact.objects.filter(email="new@example.com").exists()


def test_submissions_are_rate_limited_per_address(client, form, monkeypatch):
    monkeypatch.setattr(public, "SUBMITS_PER_ADDRESS_PER_MINUTE", 2)
    assert _post(client, form).status_code == 200
    assert _post(client, form).status_code == 200
    response = _post(client, form)
    assert response.status_code == 429 and response["Retry-After"] == "60"


def test_it_redirects_only_to_the_configured_url(client, form):
    response = _post(client, form, next="https://evil.example/", success_url="https://evil.example")
    assert response.status_code == 200  # no redirect asked by the request is followed
    form.success_url = "https://acme.example/thanks"
    form.save()
    response = _post(client, form, next="https://evil.example/")
    assert response.status_code == 302 and response["Location"] == "https://acme.example/thanks"


def test_a_bad_email_shows_the_error_text(client, form):
    response = _post(client, form, email="nope")
    assert response.status_code == 400
    assert form.error_message.encode() in response.content


def test_an_existing_contact_is_not_overwritten(client, form, workspace):
    ContactFactory(workspace=workspace, email="new@example.com", first_name="Real")
    _post(client, form, first_name="Hijack")
    assert Contact.objects.get(email="new@example.com").first_name == "Real"


def test_an_erased_address_cannot_sign_up_again(client, form, workspace):
    contact_erase(contact=ContactFactory(workspace=workspace, email="new@example.com"))
    assert _post(client, form).status_code == 400
    assert not Contact.objects.filter(email="new@example.com").exists()


def test_an_inactive_or_unknown_form_is_not_found(client, form):
    form.is_active = False
    form.save()
    assert client.get(f"/f/{form.pk}").status_code == 404
    assert client.post(f"/f/{form.pk}", {"email": "a@example.com"}).status_code == 404


def test_the_builder_saves_a_form_and_shows_the_snippet(dashboard, workspace, news):
    response = dashboard.post(
        reverse("dashboard:subscriptions:form_new"),
        {
            "name": "Sidebar <b>",
            "contact_list": news.pk,
            "fields": ["last_name"],
            "success_message": "Thanks",
            "error_message": "Oops",
            "is_active": "on",
        },
        follow=True,
    )
    form = SubscriptionForm.objects.get(workspace=workspace)
    assert form.fields == ["last_name"]
    page = response.content.decode()
    assert "Sidebar &lt;b&gt;" in page and "Sidebar <b>" not in page
    assert f"/f/{form.pk}" in page and "name=&quot;last_name&quot;" in page


def test_viewers_cannot_build_forms(client, viewer):
    client.force_login(viewer)
    assert client.get(reverse("dashboard:subscriptions:form_new")).status_code == 403
    assert client.get(reverse("dashboard:subscriptions:forms")).status_code == 200


def test_another_workspaces_form_is_not_found(dashboard, outsider):
    theirs = SubscriptionForm.objects.create(
        workspace=outsider.workspace, name="Theirs", contact_list=outsider.list
    )
    assert (
        dashboard.get(reverse("dashboard:subscriptions:form", args=[theirs.pk])).status_code == 404
    )
