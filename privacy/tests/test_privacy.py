"""Export and erasure of one contact: services, the guards on create/import/send, the API and
the dashboard buttons."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, EventType, Message, MessageEvent, MessageKind
from contacts import services as contact_services
from contacts.models import Activity, Contact
from contacts.tests.factories import (
    ActivityFactory,
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    TagFactory,
)
from deliverability.models import Suppression
from deliverability.services import blocked_addresses, suppression_add
from mailcrm.models import Event
from privacy import services
from privacy.models import ErasedAddress, Erasure

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane(workspace):
    contact = ContactFactory(
        workspace=workspace, email="Jane@Example.com", first_name="Jane", properties={}
    )
    ContactTagFactory(contact=contact, tag=TagFactory(workspace=workspace, name="vip"))
    ListMembershipFactory(
        contact=contact, contact_list=ContactListFactory(workspace=workspace, name="News")
    )
    ActivityFactory(contact=contact, workspace=workspace, subject="Called her")
    campaign = Campaign.objects.create(workspace=workspace, name="Spring", subject="Hi")
    message = Message.objects.create(
        workspace=workspace,
        campaign=campaign,
        contact=contact,
        kind=MessageKind.CAMPAIGN,
        email=contact.email,
        status="sent",
    )
    MessageEvent.objects.create(
        workspace=workspace,
        message=message,
        type=EventType.CLICKED,
        occurred_at=timezone.now(),
        url="https://example.org/",
        client="Firefox",
        data={"user_agent": "Mozilla/5.0"},
    )
    suppression_add(workspace=workspace, email="jane@example.com", type="manual")
    return contact


def test_the_export_holds_everything_we_have(jane):
    data = services.contact_export(jane)
    assert data["contact"]["email"] == "Jane@Example.com"
    assert data["tags"] == ["vip"]
    assert [item["name"] for item in data["lists"]] == ["News"]
    assert any(a["subject"] == "Called her" for a in data["activities"])
    assert data["messages"][0]["campaign"] == "Spring"
    assert data["messages"][0]["events"][0]["type"] == "clicked"
    assert data["suppressions"][0]["type"] == "manual"
    json.dumps(data, default=str)


def test_erasure_deletes_personal_data_and_keeps_a_hash(workspace, jane):
    jane_id = jane.pk
    erasure = services.contact_erase(contact=jane, via="api")
    assert not Contact.objects.filter(pk=jane_id).exists()
    assert not Activity.objects.filter(contact_id=jane_id).exists()
    assert not Suppression.objects.filter(email="jane@example.com").exists()
    message = Message.objects.get(campaign__name="Spring")
    assert (message.email, message.contact_id) == ("erased", None)
    assert MessageEvent.objects.get(message=message).data == {}
    (left,) = Event.objects.filter(subject_id=jane_id)
    assert left.type == "contact.deleted" and "example" not in json.dumps(left.data).lower()
    assert ErasedAddress.objects.get().email_hash == services.email_hash(" JANE@example.com ")
    audit = Erasure.objects.get(pk=erasure.pk)
    assert "jane" not in json.dumps(audit.deleted).lower()
    assert audit.contact_id == jane_id


def test_an_erased_address_is_never_created_or_mailed_again(workspace, jane):
    services.contact_erase(contact=jane)
    with pytest.raises(ValidationError) as caught:
        contact_services.contact_create(workspace=workspace, email="jane@EXAMPLE.com")
    assert "erased" in str(caught.value)
    assert blocked_addresses(workspace, ["JANE@example.com", "bob@example.com"], marketing=False)
    assert blocked_addresses(workspace, ["bob@example.com"]) == set()


def test_an_erased_address_is_refused_by_an_import(workspace, jane):
    from contacts.imports.jobs import import_run, import_start

    services.contact_erase(contact=jane)
    job = import_start(
        workspace=workspace,
        data=b"email,first_name\njane@example.com,J\nbob@example.com,Bob\n",
        filename="people.csv",
        mapping={"email": "email", "first_name": "first_name"},
    )
    job = import_run(job.pk) or job
    job.refresh_from_db()
    assert list(Contact.objects.filter(workspace=workspace).values_list("email", flat=True)) == [
        "bob@example.com"
    ]
    assert job.errors[0]["row"] == 2 and "erased" in job.errors[0]["reason"]


def test_an_erased_address_is_refused_by_a_batch_upsert(workspace, jane):
    from contacts.bulk import contacts_batch_upsert

    services.contact_erase(contact=jane)
    results = contacts_batch_upsert(
        workspace=workspace, items=[{"email": "Jane@example.com"}, {"email": "bob@example.com"}]
    )

    assert results[0]["status"] == "error" and "erased" in results[0]["error"]
    assert results[1]["status"] == "created"
    assert not Contact.objects.filter(workspace=workspace, email__iexact="jane@example.com")


def test_the_api_exports_and_erases(api, jane, outsider):
    response = api.get(f"/api/v1/contacts/{jane.pk}/export")
    assert response.status_code == 200
    assert response.json()["contact"]["email"] == "Jane@Example.com"
    assert api.get(f"/api/v1/contacts/{outsider.contact.pk}/export").status_code == 404
    assert api.post(f"/api/v1/contacts/{outsider.contact.pk}/erase").status_code == 404
    assert api.get("/api/v1/contacts/not-a-uuid/export").status_code == 404
    response = api.post(f"/api/v1/contacts/{jane.pk}/erase")
    assert response.status_code == 200
    assert response.json()["contact_id"] == str(jane.pk)
    assert Contact.objects.filter(pk=outsider.contact.pk).exists()
    assert api.post(f"/api/v1/contacts/{jane.pk}/erase").status_code == 404


def test_the_api_needs_a_key(anon_api, jane):
    assert anon_api.get(f"/api/v1/contacts/{jane.pk}/export").status_code == 401
    assert anon_api.post(f"/api/v1/contacts/{jane.pk}/erase").status_code == 401


def test_the_dashboard_asks_before_erasing(dashboard, jane):
    page = dashboard.get(reverse("dashboard:contacts:contact", args=[jane.pk])).content.decode()
    assert reverse("dashboard:privacy:erase", args=[jane.pk]) in page
    confirm = dashboard.get(reverse("dashboard:privacy:erase", args=[jane.pk]))
    assert b"cannot be undone" in confirm.content
    assert Contact.objects.filter(pk=jane.pk).exists()
    response = dashboard.post(reverse("dashboard:privacy:erase", args=[jane.pk]), follow=True)
    assert b"was erased" in response.content
    assert not Contact.objects.filter(pk=jane.pk).exists()
    assert Erasure.objects.get().via == "dashboard"


def test_the_dashboard_download_is_json(dashboard, jane):
    response = dashboard.get(reverse("dashboard:privacy:export", args=[jane.pk]))
    assert response["Content-Disposition"].startswith("attachment")
    assert json.loads(response.content)["tags"] == ["vip"]


def test_viewers_cannot_export_or_erase(client, viewer, jane):
    client.force_login(viewer)
    assert client.get(reverse("dashboard:privacy:export", args=[jane.pk])).status_code == 403
    assert client.post(reverse("dashboard:privacy:erase", args=[jane.pk])).status_code == 403
