"""Dashboard pages of the contact database: every page for every role, viewers refused every
change, isolation between workspaces, and each action doing what it says."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from contacts.models import (
    Activity,
    ActivityKind,
    Contact,
    ContactList,
    ContactTag,
    ListMembership,
    PropertyDefinition,
    PropertyType,
    Tag,
)
from contacts.tests.factories import (
    ActivityFactory,
    CompanyRoleFactory,
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    PropertyDefinitionFactory,
    TagFactory,
)
from mailcrm.models import Event

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin_user", "member", "viewer"]
EDITORS = ["owner", "admin_user", "member"]


def url(name, *args):
    return reverse(f"dashboard:contacts:{name}", args=args)


@pytest.fixture
def world(workspace):
    """One of everything in the workspace."""

    class World:
        pass

    w = World()
    w.plan = PropertyDefinitionFactory(
        workspace=workspace,
        key="plan",
        label="Plan",
        type=PropertyType.SELECT,
        options=["free", "pro"],
    )
    w.seats = PropertyDefinitionFactory(
        workspace=workspace, key="seats", label="Seats", type=PropertyType.NUMBER
    )
    w.contact = ContactFactory(
        workspace=workspace,
        email="jane@example.com",
        first_name="Jane",
        last_name="Smith",
        properties={"plan": "pro", "seats": 12},
    )
    w.tag = TagFactory(workspace=workspace, name="vip")
    w.list = ContactListFactory(workspace=workspace, name="Newsletter")
    ContactTagFactory(contact=w.contact, tag=w.tag)
    ListMembershipFactory(contact=w.contact, contact_list=w.list)
    CompanyRoleFactory(contact=w.contact, company__name="Initech", role="Decision Maker")
    ActivityFactory(contact=w.contact, subject="Kick-off call", body="Discussed the plan")
    return w


def read_pages(w):
    return [
        url("contacts"),
        url("contact", w.contact.pk),
        url("tags"),
        url("lists"),
        url("list", w.list.pk),
        url("properties"),
        reverse("dashboard:home"),
    ]


def form_pages(w):
    return [
        url("contact_new"),
        url("contact_edit", w.contact.pk),
        url("contact_delete", w.contact.pk),
        url("tag_new"),
        url("tag_edit", w.tag.pk),
        url("tag_delete", w.tag.pk),
        url("list_new"),
        url("list_edit", w.list.pk),
        url("list_delete", w.list.pk),
        url("property_new"),
        url("property_edit", w.plan.pk),
        url("property_delete", w.plan.pk),
    ]


def changing_posts(w):
    """Every URL that changes something, with a body that would succeed for an editor."""
    other_list = ContactListFactory(workspace=w.contact.workspace, name="Other")
    return [
        (url("contact_new"), {"email": "new@example.com", "status": "active"}),
        (url("contact_edit", w.contact.pk), {"email": "changed@example.com"}),
        (url("contact_delete", w.contact.pk), {}),
        (url("contact_archive", w.contact.pk), {}),
        (url("contact_restore", w.contact.pk), {}),
        (url("contact_tag", w.contact.pk), {"name": "new-tag"}),
        (url("contact_untag", w.contact.pk, w.tag.pk), {}),
        (url("contact_log", w.contact.pk), {"kind": "note", "body": "hello"}),
        (url("contact_list_add", w.contact.pk), {"contact_list": str(other_list.pk)}),
        (url("contact_list_remove", w.contact.pk, w.list.pk), {}),
        (url("tag_new"), {"name": "fresh"}),
        (url("tag_edit", w.tag.pk), {"name": "renamed"}),
        (url("tag_delete", w.tag.pk), {}),
        (url("list_new"), {"name": "Fresh list"}),
        (url("list_edit", w.list.pk), {"name": "Renamed list"}),
        (url("list_delete", w.list.pk), {}),
        (url("property_new"), {"key": "industry", "type": "text"}),
        (url("property_edit", w.plan.pk), {"label": "Tier", "type": "text"}),
        (url("property_delete", w.plan.pk), {}),
    ]


def snapshot(workspace):
    """Everything a changing view could touch, to prove nothing moved."""
    contacts = Contact.objects.for_workspace(workspace).order_by("pk")
    return {
        "contacts": list(contacts.values()),
        "tags": list(Tag.objects.for_workspace(workspace).values("id", "name")),
        "lists": list(ContactList.objects.for_workspace(workspace).values("id", "name")),
        "props": list(PropertyDefinition.objects.for_workspace(workspace).values()),
        "links": ContactTag.objects.count() + ListMembership.objects.count(),
        "activities": Activity.objects.count(),
        "events": Event.objects.count(),
    }


@pytest.fixture
def as_role(client, request):
    def sign_in(role):
        client.force_login(request.getfixturevalue(role))
        return client

    return sign_in


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_every_role(as_role, role, world):
    client = as_role(role)
    for page in read_pages(world):
        assert client.get(page).status_code == 200, page
    assert "jane@example.com" in client.get(url("contacts")).content.decode()


@pytest.mark.parametrize("role", EDITORS)
def test_every_form_page_renders_for_editors(as_role, role, world):
    client = as_role(role)
    for page in form_pages(world):
        assert client.get(page).status_code == 200, page


def test_viewers_are_refused_every_form_page(as_role, world):
    client = as_role("viewer")
    for page in form_pages(world):
        assert client.get(page).status_code == 403, page


def test_viewers_are_refused_every_change_and_nothing_changes(as_role, workspace, world):
    posts = changing_posts(world)
    client = as_role("viewer")
    before = snapshot(workspace)
    for target, body in posts:
        assert client.post(target, body).status_code == 403, target
        assert client.post(target, body, HTTP_HX_REQUEST="true").status_code == 403, target
    assert snapshot(workspace) == before


def test_viewers_see_no_edit_controls(as_role, world):
    body = as_role("viewer").get(url("contact", world.contact.pk)).content.decode()
    assert url("contact_edit", world.contact.pk) not in body
    assert url("contact_tag", world.contact.pk) not in body
    assert url("contact_log", world.contact.pk) not in body
    assert "Jane" in body


def test_anonymous_users_are_sent_to_sign_in(client, workspace, world):
    for page in read_pages(world) + form_pages(world):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.url.startswith(reverse("dashboard:login")), page
    posts = changing_posts(world)
    before = snapshot(workspace)
    for target, body in posts:
        assert client.post(target, body).status_code == 302, target
    assert snapshot(workspace) == before


def test_another_workspaces_objects_are_not_found(dashboard, workspace, world, outsider):
    secret_prop = PropertyDefinitionFactory(workspace=outsider.workspace, key="secret")
    oc, ot, ol = outsider.contact, outsider.tag, outsider.list
    gets = [
        url("contact", oc.pk),
        url("contact_edit", oc.pk),
        url("contact_delete", oc.pk),
        url("tag_edit", ot.pk),
        url("tag_delete", ot.pk),
        url("list", ol.pk),
        url("list_edit", ol.pk),
        url("list_delete", ol.pk),
        url("property_edit", secret_prop.pk),
        url("property_delete", secret_prop.pk),
    ]
    for page in gets:
        assert dashboard.get(page).status_code == 404, page
    # The detail pages only answer GET (405 for POST), so POST goes to the other pages.
    detail_pages = (url("contact", oc.pk), url("list", ol.pk))
    posts = [page for page in gets if page not in detail_pages] + [
        url("contact_archive", oc.pk),
        url("contact_restore", oc.pk),
        url("contact_tag", oc.pk),
        url("contact_log", oc.pk),
        url("contact_list_add", oc.pk),
        url("contact_untag", oc.pk, ot.pk),
        url("contact_list_remove", oc.pk, ol.pk),
        # Our contact, their tag or list.
        url("contact_untag", world.contact.pk, ot.pk),
        url("contact_list_remove", world.contact.pk, ol.pk),
    ]
    before = snapshot(outsider.workspace)
    for target in posts:
        response = dashboard.post(target, {"name": "x", "kind": "note", "body": "x"})
        assert response.status_code == 404, target
    assert snapshot(outsider.workspace) == before
    assert "secret@outsider.example" not in dashboard.get(url("contacts")).content.decode()


def test_adding_to_another_workspaces_list_is_refused(dashboard, world, outsider):
    response = dashboard.post(
        url("contact_list_add", world.contact.pk), {"contact_list": str(outsider.list.pk)}
    )
    assert response.status_code == 302
    assert not ListMembership.objects.filter(contact_list=outsider.list).exclude(
        contact=outsider.contact
    )


# --- contacts list -----------------------------------------------------------------------------


@pytest.fixture
def crowd(workspace):
    vip = TagFactory(workspace=workspace, name="vip")
    newsletter = ContactListFactory(workspace=workspace, name="Newsletter")
    ann = ContactFactory(workspace=workspace, email="ann@alpha.example", first_name="Ann")
    bob = ContactFactory(
        workspace=workspace, email="bob@beta.example", status="unsubscribed", lifecycle_stage="lead"
    )
    cid = ContactFactory(
        workspace=workspace, email="cid@gamma.example", archived_at=datetime(2025, 1, 1, tzinfo=UTC)
    )
    ContactTagFactory(contact=ann, tag=vip)
    ListMembershipFactory(contact=bob, contact_list=newsletter)
    return {"ann": ann, "bob": bob, "cid": cid, "vip": vip, "newsletter": newsletter}


def emails(response):
    return [c.email for c in response.context["page"].rows]


def newest_first(*contacts):
    return [c.email for c in sorted(contacts, key=lambda c: c.pk, reverse=True)]


def test_the_list_shows_visible_contacts_newest_first(dashboard, crowd):
    expected = newest_first(crowd["ann"], crowd["bob"])
    assert emails(dashboard.get(url("contacts"))) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=alpha", ["ann@alpha.example"]),
        ("q=BOB", ["bob@beta.example"]),
        ("status=unsubscribed", ["bob@beta.example"]),
        ("lifecycle_stage=lead", ["bob@beta.example"]),
        ("tag=vip", ["ann@alpha.example"]),
        ("tag=VIP", ["ann@alpha.example"]),
        ("list=Newsletter", ["bob@beta.example"]),
        ("archived=true", ["cid@gamma.example"]),
        ("status=active&tag=vip", ["ann@alpha.example"]),
        ("q=nobody", []),
    ],
)
def test_the_list_filters(dashboard, crowd, query, expected):
    response = dashboard.get(f"{url('contacts')}?{query}")
    assert response.status_code == 200
    assert emails(response) == expected


def test_filters_by_tag_and_list_id(dashboard, crowd):
    by_tag = dashboard.get(url("contacts"), {"tag": str(crowd["vip"].pk)})
    assert emails(by_tag) == ["ann@alpha.example"]
    by_list = dashboard.get(url("contacts"), {"list": str(crowd["newsletter"].pk)})
    assert emails(by_list) == ["bob@beta.example"]


def test_the_list_renders_the_shared_filterset_form(dashboard, crowd):
    from contacts.filtersets import ContactFilterSet

    response = dashboard.get(url("contacts"), {"status": "active"})
    form = response.context["filter_form"]
    assert set(form.fields) == set(ContactFilterSet.base_filters)
    body = response.content.decode()
    assert 'name="q"' in body and 'name="lifecycle_stage"' in body
    assert '<option value="active" selected>' in body


def test_an_unknown_tag_is_a_message_not_an_error_page(dashboard, crowd, outsider):
    for value in ("nope", str(outsider.tag.pk)):
        response = dashboard.get(url("contacts"), {"tag": value})
        assert response.status_code == 200
        assert "No such tag." in response.content.decode()
        assert "secret@outsider.example" not in response.content.decode()


def test_a_bad_filter_value_shows_the_error(dashboard, crowd):
    response = dashboard.get(url("contacts"), {"status": "sleeping"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert response.context["page"] is None


def test_blank_filters_from_a_submitted_form_are_not_filters(dashboard, crowd):
    blank = {"q": "", "status": "", "tag": "", "archived": "unknown", "cursor": ""}
    response = dashboard.get(url("contacts"), blank)
    assert response.context["filtered"] is False
    assert emails(response) == newest_first(crowd["ann"], crowd["bob"])
    assert dashboard.get(url("contacts"), {"status": "active"}).context["filtered"] is True


def test_empty_states_say_what_to_do(dashboard, workspace):
    body = dashboard.get(url("contacts")).content.decode()
    assert "No contacts yet." in body
    assert url("contact_new") in body
    ContactFactory(workspace=workspace)
    body = dashboard.get(url("contacts"), {"q": "zzz"}).content.decode()
    assert "No contacts match these filters." in body


def test_keyset_pages_follow_the_cursor(dashboard, workspace, monkeypatch):
    monkeypatch.setattr("contacts.views.records.PAGE_SIZE", 2)
    made = newest_first(*ContactFactory.create_batch(5, workspace=workspace))
    first = dashboard.get(url("contacts"), {"status": "active"})
    assert emails(first) == made[:2]
    cursor = first.context["page"].next_cursor
    body = first.content.decode()
    assert f"cursor={cursor}" in body and "status=active" in body
    assert "First page" not in body
    second = dashboard.get(url("contacts"), {"status": "active", "cursor": cursor})
    assert emails(second) == made[2:4]
    assert "First page" in second.content.decode()
    third = dashboard.get(url("contacts"), {"cursor": second.context["page"].next_cursor})
    assert emails(third) == made[4:]
    assert third.context["page"].next_cursor is None
    assert "Next page" not in third.content.decode()


def test_a_damaged_cursor_means_the_first_page(dashboard, crowd):
    response = dashboard.get(url("contacts"), {"cursor": "garbage!!"})
    assert response.status_code == 200
    assert emails(response) == newest_first(crowd["ann"], crowd["bob"])


def test_the_list_does_not_count_or_query_per_row(
    dashboard, workspace, django_assert_max_num_queries
):
    for i in range(30):
        contact = ContactFactory(workspace=workspace)
        ContactTagFactory(contact=contact, tag__name=f"t{i}")
    with django_assert_max_num_queries(12) as captured:
        response = dashboard.get(url("contacts"))
    assert len(response.context["page"].rows) == 30
    sql = " ".join(q["sql"].upper() for q in captured.captured_queries)
    assert "OFFSET" not in sql
    assert "COUNT(" not in sql


# --- contact create and edit -------------------------------------------------------------------


def test_it_creates_a_contact_with_properties_tags_and_lists(dashboard, workspace, world):
    response = dashboard.post(
        url("contact_new"),
        {
            "email": " New@Example.COM ",
            "first_name": "Nia",
            "status": "active",
            "lifecycle_stage": "lead",
            "source": "manual",
            "properties.plan": "free",
            "properties.seats": "3",
            "tags": "vip, beta",
            "lists": [str(world.list.pk)],
        },
    )
    contact = Contact.objects.get(workspace=workspace, email="New@example.com")
    assert response.status_code == 302
    assert response.url == url("contact", contact.pk)
    assert contact.properties == {"plan": "free", "seats": 3}
    assert contact.lifecycle_stage == "lead"
    assert sorted(contact.tags.values_list("name", flat=True)) == ["beta", "vip"]
    assert list(contact.lists.all()) == [world.list]
    assert Activity.objects.filter(contact=contact, kind=ActivityKind.CREATED).exists()
    page = dashboard.get(response.url).content.decode()
    assert "Created New@example.com." in page


def test_the_create_form_has_a_field_per_property(dashboard, world):
    form = dashboard.get(url("contact_new")).context["form"]
    assert "properties.plan" in form.fields and "properties.seats" in form.fields
    assert form.fields["properties.plan"].label == "Plan"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"email": "JANE@example.COM"}, "email", "A contact with this email already exists."),
        ({"email": "x@example.com", "properties.seats": "many"}, "properties.seats", "number"),
        ({"email": "x@example.com", "properties.plan": "gold"}, "properties.plan", "valid choice"),
    ],
)
def test_create_shows_the_error_and_creates_nothing(
    dashboard, workspace, world, body, field, message
):
    before = snapshot(workspace)
    data = {"status": "active", "lifecycle_stage": "subscriber", "source": "manual"} | body
    response = dashboard.post(url("contact_new"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors[field])
    assert message in response.content.decode().replace("&#x27;", "'")
    assert snapshot(workspace) == before


def test_a_property_rejected_by_the_service_lands_on_its_field(dashboard, workspace):
    PropertyDefinitionFactory(workspace=workspace, key="renewal", type=PropertyType.DATE)
    response = dashboard.post(
        url("contact_new"),
        {
            "email": "x@example.com",
            "status": "active",
            "lifecycle_stage": "subscriber",
            "source": "manual",
            "properties.renewal": "next tuesday",
        },
    )
    assert response.status_code == 200
    assert "must be a date" in " ".join(response.context["form"].errors["properties.renewal"])
    assert not Contact.objects.exists()


def test_typed_properties_round_trip_through_the_form(dashboard, workspace):
    for key, kind, options in [
        ("beta", PropertyType.BOOLEAN, []),
        ("interests", PropertyType.MULTI_SELECT, ["crm", "email", "sms"]),
        ("extra", PropertyType.JSON, []),
        ("renewal_at", PropertyType.DATETIME, []),
    ]:
        PropertyDefinitionFactory(workspace=workspace, key=key, type=kind, options=options)
    base = {"status": "active", "lifecycle_stage": "lead", "source": "manual"}
    response = dashboard.post(
        url("contact_new"), base | {"email": "x@example.com", "properties.extra": "{oops"}
    )
    assert "Enter valid JSON." in response.content.decode()
    dashboard.post(
        url("contact_new"),
        base
        | {
            "email": "x@example.com",
            "properties.beta": "true",
            "properties.interests": ["crm", "sms"],
            "properties.extra": '{"a": [1, 2]}',
            "properties.renewal_at": "2031-05-01T09:30",
        },
    )
    contact = Contact.objects.get(email="x@example.com")
    assert contact.properties == {
        "beta": True,
        "interests": ["crm", "sms"],
        "extra": {"a": [1, 2]},
        "renewal_at": "2031-05-01T09:30:00Z",
    }
    initial = dashboard.get(url("contact_edit", contact.pk)).context["form"].initial
    assert initial["properties.beta"] == "true"
    assert initial["properties.interests"] == ["crm", "sms"]
    assert initial["properties.extra"] == '{"a": [1, 2]}'
    assert initial["properties.renewal_at"] == "2031-05-01T09:30:00"
    page = dashboard.get(url("contact", contact.pk)).content.decode()
    assert "crm, sms" in page and "Yes" in page


def test_an_undefined_property_is_never_stored(dashboard, workspace):
    dashboard.post(
        url("contact_new"),
        {
            "email": "x@example.com",
            "status": "active",
            "lifecycle_stage": "subscriber",
            "source": "manual",
            "properties.hacked": "1",
        },
    )
    assert Contact.objects.get(email="x@example.com").properties == {}


def test_the_plan_limit_is_a_form_error(dashboard, workspace):
    workspace.limit_contacts = 1
    workspace.save()
    ContactFactory(workspace=workspace)
    response = dashboard.post(
        url("contact_new"),
        {"email": "x@example.com", "status": "active", "lifecycle_stage": "lead", "source": "api"},
    )
    assert response.status_code == 200
    assert "plan allows 1 contacts" in response.content.decode()
    assert Contact.objects.count() == 1


def test_it_edits_a_contact_and_removes_emptied_properties(dashboard, world):
    form = dashboard.get(url("contact_edit", world.contact.pk)).context["form"]
    assert form.initial["properties.plan"] == "pro"
    assert form.initial["properties.seats"] == "12"
    response = dashboard.post(
        url("contact_edit", world.contact.pk),
        {
            "email": "jane@example.com",
            "first_name": "Janet",
            "status": "unsubscribed",
            "lifecycle_stage": "customer",
            "source": "manual",
            "properties.plan": "free",
            "properties.seats": "",
        },
    )
    assert response.status_code == 302
    world.contact.refresh_from_db()
    assert world.contact.first_name == "Janet"
    assert world.contact.status == "unsubscribed"
    assert world.contact.properties == {"plan": "free"}
    assert list(world.contact.tags.all()) == [world.tag]  # untouched by the edit form


def test_edit_refuses_another_contacts_email(dashboard, workspace, world):
    ContactFactory(workspace=workspace, email="taken@example.com")
    response = dashboard.post(
        url("contact_edit", world.contact.pk),
        {
            "email": "TAKEN@example.com",
            "status": "active",
            "lifecycle_stage": "subscriber",
            "source": "manual",
        },
    )
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].errors["email"])
    world.contact.refresh_from_db()
    assert world.contact.email == "jane@example.com"


# --- contact page and its actions --------------------------------------------------------------


def test_the_contact_page_shows_everything(dashboard, world):
    body = dashboard.get(url("contact", world.contact.pk)).content.decode()
    for text in (
        "Jane Smith",
        "Plan",  # the definition's label, not only the key
        "pro",
        "Seats",
        "vip",
        "Newsletter",
        "Initech",
        "Decision Maker",
        "Kick-off call",
        "Discussed the plan",
        "Engagement",
    ):
        assert text in body, text


def test_the_contact_page_costs_the_same_with_many_tags_and_entries(
    dashboard, workspace, world, django_assert_max_num_queries
):
    for i in range(20):
        ContactTagFactory(contact=world.contact, tag__name=f"extra-{i}")
        ActivityFactory(contact=world.contact)
        CompanyRoleFactory(contact=world.contact)
    # 19: the page also shows the unsubscribe layers and suppressions in force (three reads);
    # the count is the same with no tags, entries or companies at all.
    with django_assert_max_num_queries(19):
        assert dashboard.get(url("contact", world.contact.pk)).status_code == 200


def test_the_timeline_is_newest_first_and_paged(dashboard, world, monkeypatch):
    monkeypatch.setattr("contacts.views.records.TIMELINE_SIZE", 2)
    ActivityFactory(contact=world.contact, subject="oldest", occurred_at="2020-01-01T00:00:00Z")
    ActivityFactory(contact=world.contact, subject="newest", occurred_at="2030-01-01T00:00:00Z")
    first = dashboard.get(url("contact", world.contact.pk))
    timeline = first.context["timeline"]
    assert timeline.rows[0].subject == "newest"
    older = dashboard.get(url("contact", world.contact.pk), {"before": timeline.next_cursor})
    assert older.context["timeline"].rows[-1].subject == "oldest"


def test_it_tags_and_untags(dashboard, world, owner):
    response = dashboard.post(url("contact_tag", world.contact.pk), {"name": "Beta"})
    assert response.status_code == 302
    assert sorted(world.contact.tags.values_list("name", flat=True)) == ["Beta", "vip"]
    assert Activity.objects.get(kind=ActivityKind.TAGGED, subject="Beta").created_by == owner
    dashboard.post(url("contact_untag", world.contact.pk, world.tag.pk))
    assert list(world.contact.tags.values_list("name", flat=True)) == ["Beta"]
    assert "Removed tag vip." in dashboard.get(url("contact", world.contact.pk)).content.decode()


def test_tagging_with_htmx_returns_the_tags_section(dashboard, world):
    response = dashboard.post(
        url("contact_tag", world.contact.pk), {"name": "beta"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="tags"')
    assert "beta" in body and "Tagged beta." in body
    assert "<html" not in body
    response = dashboard.post(
        url("contact_untag", world.contact.pk, world.tag.pk), HTTP_HX_REQUEST="true"
    )
    assert "Removed tag vip." in response.content.decode()
    assert not world.contact.tags.filter(name="vip").exists()


def test_an_empty_tag_is_refused_with_a_message(dashboard, world):
    response = dashboard.post(
        url("contact_tag", world.contact.pk), {"name": "  "}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "flash-error" in response.content.decode()
    assert world.contact.tags.count() == 1


def test_it_logs_a_note(dashboard, world, owner):
    response = dashboard.post(
        url("contact_log", world.contact.pk),
        {"kind": "call", "subject": "Renewal", "body": "Wants the pro plan"},
    )
    assert response.status_code == 302
    activity = Activity.objects.get(contact=world.contact, kind="call")
    assert (activity.subject, activity.body, activity.created_by) == (
        "Renewal",
        "Wants the pro plan",
        owner,
    )


def test_logging_with_htmx_returns_the_timeline(dashboard, world):
    response = dashboard.post(
        url("contact_log", world.contact.pk),
        {"kind": "meeting", "body": "Demo", "occurred_at": "2031-05-01T10:00"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="timeline"')
    assert "Logged a meeting." in body
    assert response.context["timeline"].rows[0].body == "Demo"


def test_an_empty_note_is_refused(dashboard, world):
    before = Activity.objects.count()
    response = dashboard.post(
        url("contact_log", world.contact.pk), {"kind": "note"}, HTTP_HX_REQUEST="true"
    )
    assert "Write a subject or a body." in response.content.decode()
    response = dashboard.post(url("contact_log", world.contact.pk), {"kind": "email_opened"})
    assert response.status_code == 302
    assert Activity.objects.count() == before


def test_it_archives_and_restores(dashboard, world):
    dashboard.post(url("contact_archive", world.contact.pk))
    world.contact.refresh_from_db()
    assert world.contact.is_archived
    page = dashboard.get(url("contact", world.contact.pk)).content.decode()
    assert "Archived" in page and url("contact_restore", world.contact.pk) in page
    assert emails(dashboard.get(url("contacts"))) == []
    dashboard.post(url("contact_restore", world.contact.pk))
    world.contact.refresh_from_db()
    assert not world.contact.is_archived


def test_it_adds_to_and_removes_from_a_list(dashboard, workspace, world):
    other = ContactListFactory(workspace=workspace, name="Beta testers")
    dashboard.post(url("contact_list_add", world.contact.pk), {"contact_list": str(other.pk)})
    assert set(world.contact.lists.all()) == {world.list, other}
    dashboard.post(url("contact_list_remove", world.contact.pk, world.list.pk))
    assert list(world.contact.lists.all()) == [other]


def test_delete_asks_first_then_deletes(dashboard, world):
    confirm = dashboard.get(url("contact_delete", world.contact.pk))
    assert "cannot be undone" in confirm.content.decode()
    assert Contact.objects.filter(pk=world.contact.pk).exists()
    response = dashboard.post(url("contact_delete", world.contact.pk))
    assert response.url == url("contacts")
    assert not Contact.objects.filter(pk=world.contact.pk).exists()
    assert Event.objects.filter(type="contact.deleted", subject_id=world.contact.pk).exists()


# --- tags --------------------------------------------------------------------------------------


def test_tags_are_listed_with_counts(dashboard, world, workspace):
    TagFactory(workspace=workspace, name="unused")
    response = dashboard.get(url("tags"))
    counts = {t.name: t.contact_count for t in response.context["tags"]}
    assert counts == {"unused": 0, "vip": 1}
    assert dashboard.get(url("tags"), {"q": "VI"}).context["tags"].get() == world.tag


def test_it_creates_renames_and_deletes_a_tag(dashboard, workspace, world):
    response = dashboard.post(url("tag_new"), {"name": "Beta", "description": "testers"})
    assert response.url == url("tags")
    tag = Tag.objects.get(workspace=workspace, name="Beta")
    dashboard.post(url("tag_edit", tag.pk), {"name": "Gamma", "description": ""})
    tag.refresh_from_db()
    assert tag.name == "Gamma"
    dashboard.post(url("tag_delete", tag.pk))
    assert not Tag.objects.filter(pk=tag.pk).exists()


def test_a_duplicate_tag_name_is_a_form_error(dashboard, workspace, world):
    response = dashboard.post(url("tag_new"), {"name": "VIP"})
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].errors["name"])
    other = TagFactory(workspace=workspace, name="other")
    response = dashboard.post(url("tag_edit", other.pk), {"name": "vip"})
    assert "already exists" in response.content.decode()
    assert Tag.objects.filter(workspace=workspace).count() == 2


# --- lists -------------------------------------------------------------------------------------


def test_lists_are_listed_with_counts_and_members(dashboard, world):
    response = dashboard.get(url("lists"))
    assert [(cl.name, cl.contact_count) for cl in response.context["lists"]] == [("Newsletter", 1)]
    members = dashboard.get(url("list", world.list.pk))
    assert [c.email for c in members.context["page"].rows] == ["jane@example.com"]


def test_it_creates_edits_and_deletes_a_list(dashboard, workspace):
    response = dashboard.post(url("list_new"), {"name": "VIPs", "double_opt_in": "on"})
    contact_list = ContactList.objects.get(workspace=workspace, name="VIPs")
    assert contact_list.double_opt_in
    assert response.url == url("list", contact_list.pk)
    dashboard.post(url("list_edit", contact_list.pk), {"name": "Very VIPs", "description": "d"})
    contact_list.refresh_from_db()
    assert (contact_list.name, contact_list.description, contact_list.double_opt_in) == (
        "Very VIPs",
        "d",
        False,
    )
    dashboard.post(url("list_delete", contact_list.pk))
    assert not ContactList.objects.filter(pk=contact_list.pk).exists()


def test_a_duplicate_list_name_is_a_form_error(dashboard, world):
    response = dashboard.post(url("list_new"), {"name": "Newsletter"})
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["form"].errors["name"])
    assert ContactList.objects.count() == 1


# --- property definitions ----------------------------------------------------------------------


def test_it_creates_a_select_property(dashboard, workspace):
    response = dashboard.post(
        url("property_new"),
        {"key": "tier", "label": "Tier", "type": "select", "options": "gold\n silver \n\n"},
    )
    assert response.url == url("properties")
    definition = PropertyDefinition.objects.get(workspace=workspace, key="tier")
    assert definition.options == ["gold", "silver"]
    assert "Tier" in dashboard.get(url("properties")).content.decode()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"key": "tier", "type": "select", "options": ""}, "options", "needs a list"),
        ({"key": "tier", "type": "text", "options": "a"}, "options", "Only select"),
        ({"key": "plan", "type": "text"}, "key", "already exists"),
        ({"key": "no spaces", "type": "text"}, "key", "slug"),
    ],
)
def test_property_errors_land_on_the_form(dashboard, world, body, field, message):
    before = PropertyDefinition.objects.count()
    response = dashboard.post(url("property_new"), body)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert PropertyDefinition.objects.count() == before


def test_it_edits_a_property_but_not_its_key(dashboard, world):
    response = dashboard.post(
        url("property_edit", world.plan.pk),
        {"key": "hijacked", "label": "Tier", "type": "select", "options": "free\npro\nteam"},
    )
    assert response.status_code == 302
    world.plan.refresh_from_db()
    assert (world.plan.key, world.plan.label) == ("plan", "Tier")
    assert world.plan.options == ["free", "pro", "team"]


def test_deleting_a_property_removes_its_values(dashboard, world):
    dashboard.post(url("property_delete", world.plan.pk))
    world.contact.refresh_from_db()
    assert world.contact.properties == {"seats": 12}
    assert not PropertyDefinition.objects.filter(pk=world.plan.pk).exists()
