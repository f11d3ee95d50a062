"""Suppressions, the whitelist and unsubscribes: the services, the API and is_suppressed."""

import pytest

from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from deliverability import services
from deliverability.models import SendingDomain, Suppression, Unsubscribe
from mailcrm.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def domain(workspace):
    return SendingDomain.objects.create(workspace=workspace, domain="mail.acme.io")


def test_a_hard_bounce_suppresses_every_kind_of_mail_and_marks_the_contact(workspace):
    contact = ContactFactory(workspace=workspace, email="Ann@Example.com")
    services.suppression_add(workspace=workspace, email=" ANN@example.com", type="hard_bounce")
    assert services.is_suppressed(workspace, "ann@example.com")
    assert services.is_suppressed(workspace, "ann@example.com", marketing=False)
    contact.refresh_from_db()
    assert contact.status == "bounced"


def test_a_stronger_suppression_replaces_a_weaker_one(workspace):
    services.suppression_add(workspace=workspace, email="a@example.com", type="soft_bounce")
    services.suppression_add(workspace=workspace, email="a@example.com", type="complaint")
    services.suppression_add(workspace=workspace, email="a@example.com", type="manual")
    assert Suppression.objects.get().type == "complaint"


def test_a_domain_suppression_applies_to_that_domain_only(workspace, domain):
    services.suppression_add(
        workspace=workspace, email="a@example.com", type="manual", domain=domain
    )
    assert services.is_suppressed(workspace, "a@example.com", domain=domain)
    assert not services.is_suppressed(workspace, "a@example.com")


def test_the_whitelist_overrides_suppressions_but_not_unsubscribes(workspace):
    services.suppression_add(workspace=workspace, email="a@example.com", type="hard_bounce")
    services.whitelist_add(workspace=workspace, email="A@example.com")
    assert not services.is_suppressed(workspace, "a@example.com")
    services.unsubscribe_record(workspace=workspace, email="a@example.com", source="link")
    assert services.is_suppressed(workspace, "a@example.com")


def test_unsubscribes_block_marketing_but_not_transactional_mail(workspace):
    contact = ContactFactory(workspace=workspace, email="a@example.com")
    services.unsubscribe_record(workspace=workspace, email="a@example.com", source="one_click")
    assert services.is_suppressed(workspace, "a@example.com")
    assert not services.is_suppressed(workspace, "a@example.com", marketing=False)
    contact.refresh_from_db()
    assert contact.status == "unsubscribed"
    assert Event.objects.filter(type="contact.unsubscribed", subject_id=contact.id).exists()


def test_an_unsubscribe_replay_changes_nothing(workspace):
    ContactFactory(workspace=workspace, email="a@example.com")
    first = services.unsubscribe_record(
        workspace=workspace, email="a@example.com", source="one_click"
    )
    again = services.unsubscribe_record(
        workspace=workspace, email="a@example.com", source="one_click"
    )
    assert first == again
    assert Unsubscribe.objects.count() == 1
    assert Event.objects.filter(type="contact.unsubscribed").count() == 1


def test_resubscribing_makes_the_contact_active(workspace):
    contact = ContactFactory(workspace=workspace, email="a@example.com")
    unsubscribe = services.unsubscribe_record(
        workspace=workspace, email="a@example.com", source="api"
    )
    services.unsubscribe_remove(unsubscribe=unsubscribe)
    contact.refresh_from_db()
    assert contact.status == "active"
    assert not services.is_suppressed(workspace, "a@example.com")


def test_mailable_narrows_contacts_in_sql(workspace, outsider, domain):
    ok = ContactFactory(workspace=workspace, email="ok@example.com")
    ContactFactory(workspace=workspace, email="Bounced@example.com")
    ContactFactory(workspace=workspace, email="gone@example.com")
    back = ContactFactory(workspace=workspace, email="back@example.com")
    only_domain = ContactFactory(workspace=workspace, email="dom@example.com")
    services.suppression_add(workspace=workspace, email="bounced@example.com", type="hard_bounce")
    services.unsubscribe_record(workspace=workspace, email="gone@example.com", source="link")
    services.suppression_add(workspace=workspace, email="back@example.com", type="soft_bounce")
    services.whitelist_add(workspace=workspace, email="back@example.com")
    services.suppression_add(
        workspace=workspace, email="dom@example.com", type="manual", domain=domain
    )
    services.suppression_add(workspace=outsider.workspace, email="ok@example.com", type="complaint")
    everyone = Contact.objects.for_workspace(workspace)
    assert set(services.mailable(everyone)) == {ok, back, only_domain}
    assert set(services.mailable(everyone, domain=domain)) == {ok, back}


def test_the_suppressions_api(api, workspace, domain):
    response = api.post(
        "/api/v1/suppressions",
        {
            "email": "X@Example.com",
            "type": "complaint",
            "domain_id": str(domain.id),
            "reason": "fbl",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "x@example.com" and body["domain_id"] == str(domain.id)
    assert api.get("/api/v1/suppressions?type=complaint").json()["results"][0]["id"] == body["id"]
    assert api.get("/api/v1/suppressions?type=hard_bounce").json()["results"] == []
    assert (
        api.get("/api/v1/suppressions?email=X@EXAMPLE.COM").json()["results"][0]["id"] == body["id"]
    )
    assert api.delete(f"/api/v1/suppressions/{body['id']}").status_code == 204
    assert not Suppression.objects.exists()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"email": "nope"}, "email"),
        ({"email": "a@b.co", "type": "spam"}, "type"),
        ({"email": "a@b.co", "domain_id": "00000000-0000-0000-0000-000000000000"}, "domain_id"),
    ],
)
def test_bad_suppressions_are_400s(api, body, field):
    response = api.post("/api/v1/suppressions", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_domain_of_another_workspace_cannot_be_named(api, outsider):
    theirs = SendingDomain.objects.create(workspace=outsider.workspace, domain="theirs.io")
    response = api.post(
        "/api/v1/suppressions", {"email": "a@b.co", "domain_id": str(theirs.id)}, format="json"
    )
    assert response.status_code == 400


def test_the_whitelist_and_unsubscribes_api(api, workspace):
    entry = api.post("/api/v1/suppressions/whitelist", {"email": "w@example.com"}, format="json")
    assert entry.status_code == 201
    assert (
        api.get("/api/v1/suppressions/whitelist").json()["results"][0]["email"] == "w@example.com"
    )
    ContactFactory(workspace=workspace, email="u@example.com")
    unsub = api.post("/api/v1/unsubscribes", {"email": "u@example.com"}, format="json")
    assert unsub.status_code == 201 and unsub.json()["source"] == "api"
    assert api.delete(f"/api/v1/unsubscribes/{unsub.json()['id']}").status_code == 204
    assert Contact.objects.get(email="u@example.com").status == "active"
