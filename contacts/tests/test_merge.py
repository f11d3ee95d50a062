"""POST /contacts/merge, contacts_merge and duplicate_suggestions."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import Campaign, Message, MessageEvent
from contacts.merge import contacts_merge, duplicate_suggestions
from contacts.models import Activity, CompanyRole, Contact, SegmentKind, SegmentMembership
from contacts.tests.factories import (
    ActivityFactory,
    CompanyRoleFactory,
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    SegmentFactory,
    TagFactory,
)
from mailcrm.models import Event

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/merge"


def _message(contact, campaign=None, kind="campaign"):
    return Message.objects.create(
        workspace=contact.workspace,
        campaign=campaign,
        contact=contact,
        kind=kind,
        email=contact.email,
    )


@pytest.fixture
def trio(workspace):
    primary = ContactFactory(
        workspace=workspace,
        email="jane@acme.example",
        first_name="Jane",
        last_name="",
        phone="",
        properties={"plan": "pro"},
        opens=2,
        sends=3,
    )
    first = ContactFactory(
        workspace=workspace,
        email="jane.smith@acme.example",
        first_name="Janet",
        last_name="Smith",
        phone="+1 555",
        properties={"plan": "free", "seats": 4},
        opens=1,
        sends=1,
        last_opened_at=timezone.now(),
    )
    second = ContactFactory(workspace=workspace, email="js@acme.example", job_title="CTO")
    return primary, first, second


def test_merge_moves_everything_to_the_primary(api, workspace, trio):
    primary, first, second = trio
    shared, vip = TagFactory(workspace=workspace), TagFactory(workspace=workspace, name="vip")
    ContactTagFactory(contact=primary, tag=shared)
    ContactTagFactory(contact=first, tag=shared)
    ContactTagFactory(contact=second, tag=vip)
    newsletter = ContactListFactory(workspace=workspace)
    ListMembershipFactory(contact=first, contact_list=newsletter)
    ListMembershipFactory(contact=second, contact_list=newsletter)
    role = CompanyRoleFactory(contact=first, role="Buyer")
    static = SegmentFactory(workspace=workspace, kind=SegmentKind.STATIC, query="")
    SegmentMembership.objects.create(segment=static, contact=second)
    dynamic = SegmentFactory(workspace=workspace, query="job_title = CEO")
    SegmentMembership.objects.create(segment=dynamic, contact=second)
    note = ActivityFactory(contact=first)
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    moved = _message(first, campaign)
    MessageEvent.objects.create(
        workspace=workspace, message=moved, type="opened", occurred_at=timezone.now()
    )
    receipt = _message(second, kind="transactional")

    response = api.post(
        URL,
        {"primary_id": str(primary.id), "duplicate_ids": [str(first.id), str(second.id)]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["id"] == str(primary.id)
    assert body["email"] == "jane@acme.example"
    assert (body["first_name"], body["last_name"], body["phone"]) == ("Jane", "Smith", "+1 555")
    assert body["job_title"] == "CTO"
    assert body["properties"] == {"plan": "pro", "seats": 4}  # the primary keeps its values
    assert sorted(body["tags"]) == sorted([shared.name, "vip"])
    assert body["lists"] == [str(newsletter.id)]
    assert body["stats"]["opens"] == 3 and body["stats"]["sends"] == 4
    assert body["stats"]["last_opened_at"]

    assert not Contact.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert CompanyRole.objects.get(contact=primary).role == "Buyer"
    assert CompanyRole.objects.get(contact=primary).company_id == role.company_id
    assert SegmentMembership.objects.filter(segment=static, contact=primary).exists()
    assert not SegmentMembership.objects.filter(segment=dynamic, contact=primary).exists()
    note.refresh_from_db()
    assert note.contact_id == primary.id
    moved.refresh_from_db()
    receipt.refresh_from_db()
    assert moved.contact_id == primary.id and receipt.contact_id == primary.id
    assert moved.events.count() == 1
    merged = Activity.objects.get(contact=primary, kind="merged")
    assert {m["email"] for m in merged.data["merged"]} == {first.email, second.email}
    events = Event.objects.filter(workspace=workspace, type="contact.merged")
    assert {e.data["merged_id"] for e in events} == {str(first.id), str(second.id)}
    assert {e.subject_id for e in events} == {primary.id}


def test_a_campaign_message_the_primary_already_has_stays_behind(workspace, trio):
    primary, first, second = trio
    campaign = Campaign.objects.create(workspace=workspace, name="Spring")
    own = _message(primary, campaign)
    clash_first = _message(first, campaign)
    clash_second = _message(second, campaign)
    other = Campaign.objects.create(workspace=workspace, name="Summer")
    only_dups_a, only_dups_b = _message(first, other), _message(second, other)

    contacts_merge(workspace=workspace, primary=primary, duplicates=[first, second])
    own.refresh_from_db()
    assert own.contact_id == primary.id
    for message in (clash_first, clash_second):
        message.refresh_from_db()
        assert message.contact_id is None
    holders = Message.objects.filter(pk__in=[only_dups_a.pk, only_dups_b.pk])
    assert sorted(str(m.contact_id) for m in holders) == sorted([str(primary.id), "None"])


def test_the_primary_among_the_duplicates_is_400(api, trio):
    primary, first, _ = trio
    response = api.post(
        URL,
        {"primary_id": str(primary.id), "duplicate_ids": [str(first.id), str(primary.id)]},
        format="json",
    )
    assert response.status_code == 400
    assert "duplicate_ids" in response.json()["error"]["fields"]
    assert Contact.objects.filter(pk=first.pk).exists()
    with pytest.raises(ValidationError):
        contacts_merge(workspace=primary.workspace, primary=primary, duplicates=[primary])


@pytest.mark.parametrize("body", [{}, {"primary_id": "x", "duplicate_ids": []}])
def test_a_malformed_body_is_400(api, body):
    assert api.post(URL, body, format="json").status_code == 400


def test_another_workspaces_contacts_are_404_and_untouched(api, trio, outsider):
    primary, first, _ = trio
    foreign = outsider.contact
    for body in (
        {"primary_id": str(primary.id), "duplicate_ids": [str(foreign.id)]},
        {"primary_id": str(primary.id), "duplicate_ids": [str(first.id), str(foreign.id)]},
        {"primary_id": str(foreign.id), "duplicate_ids": [str(first.id)]},
    ):
        response = api.post(URL, body, format="json")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Contact.objects.filter(pk__in=[foreign.pk, first.pk]).count() == 2
    assert foreign.tags.count() == 1
    with pytest.raises(ValidationError):
        contacts_merge(workspace=primary.workspace, primary=primary, duplicates=[foreign])


def test_gmail_addresses_ignoring_dots_and_plus_tags_are_suggested(workspace):
    a = ContactFactory(workspace=workspace, email="john.doe@gmail.com")
    b = ContactFactory(workspace=workspace, email="JohnDoe+news@gmail.com")
    c = ContactFactory(workspace=workspace, email="j.o.h.n.d.o.e@googlemail.com")
    ContactFactory(workspace=workspace, email="john.doe@acme.example")
    ContactFactory(workspace=workspace, email="johndoe+x@acme.example")  # not Gmail
    ContactFactory(workspace=workspace, email="someone@gmail.com")
    groups = duplicate_suggestions(workspace)
    assert [set(g) for g in groups] == [{a, b, c}]


def test_same_name_and_company_are_suggested(workspace, outsider):
    a = ContactFactory(workspace=workspace, first_name="Ada", last_name="King", company="Acme")
    b = ContactFactory(workspace=workspace, first_name="ada ", last_name="KING", company="acme")
    ContactFactory(workspace=workspace, first_name="Ada", last_name="King", company="Globex")
    ContactFactory(workspace=workspace, first_name="Ada", last_name="King", company="")
    ContactFactory(workspace=outsider.workspace, first_name="Ada", last_name="King", company="Acme")
    groups = duplicate_suggestions(workspace)
    assert [set(g) for g in groups] == [{a, b}]


def test_suggestions_are_limited_and_grouped_in_sql(workspace, django_assert_max_num_queries):
    for i in range(5):
        ContactFactory(workspace=workspace, email=f"user{i}@gmail.com")
        ContactFactory(workspace=workspace, email=f"user.{i}@gmail.com")
    with django_assert_max_num_queries(4):
        groups = duplicate_suggestions(workspace, limit=3)
    assert len(groups) == 3 and all(len(g) == 2 for g in groups)
