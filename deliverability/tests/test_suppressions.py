"""Suppressions, the whitelist and unsubscribes: the services, the API and is_suppressed."""

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns import pipeline
from campaigns.models import Campaign, Message
from contacts.models import Contact
from contacts.tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory
from deliverability import services
from deliverability.models import SendingDomain, Suppression, Unsubscribe
from deliverability.tests.factories import SendingDomainFactory
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


# --- scopes and the whitelist decide who the pipeline sends to --------------------------------


@pytest.fixture
def newsletter(workspace):
    contact_list = ContactListFactory(workspace=workspace, name="Newsletter")
    for name in ("ann", "bob", "cy", "dee", "eve", "fay"):
        ListMembershipFactory(
            contact=ContactFactory(workspace=workspace, email=f"{name}@example.com"),
            contact_list=contact_list,
        )
    return contact_list


def snapshot_recipients(workspace, contact_list, domain=None) -> set[str]:
    campaign = Campaign.objects.create(
        workspace=workspace,
        name=f"To {domain or 'all'}",
        sending_domain=domain,
        audience={"lists": [str(contact_list.id)]},
    )
    pipeline.snapshot(campaign)
    return set(Message.objects.filter(campaign=campaign).values_list("email", flat=True))


def test_scopes_and_the_whitelist_decide_who_the_snapshot_mails(workspace, outsider, newsletter):
    mine = SendingDomainFactory(workspace=workspace, domain="news.acme.io")
    other = SendingDomainFactory(workspace=workspace, domain="billing.acme.io")
    services.suppression_add(workspace=workspace, email="ann@example.com", type="manual")
    services.suppression_add(
        workspace=workspace, email="bob@example.com", type="complaint", domain=mine
    )
    services.suppression_add(
        workspace=workspace, email="cy@example.com", type="manual", domain=other
    )
    services.unsubscribe_record(
        workspace=workspace, email="dee@example.com", source="link", domain=mine
    )
    services.bounce_record(workspace, "eve@example.com", "hard")
    services.whitelist_add(workspace=workspace, email="eve@example.com")
    # Another workspace's suppressions of the same addresses change nothing here.
    for name in ("fay", "cy"):
        services.suppression_add(
            workspace=outsider.workspace, email=f"{name}@example.com", type="complaint"
        )

    assert snapshot_recipients(workspace, newsletter) == {
        "bob@example.com",
        "cy@example.com",
        "dee@example.com",
        "eve@example.com",
        "fay@example.com",
    }
    assert snapshot_recipients(workspace, newsletter, mine) == {
        "cy@example.com",
        "eve@example.com",
        "fay@example.com",
    }
    assert snapshot_recipients(workspace, newsletter, other) == {
        "bob@example.com",
        "dee@example.com",
        "eve@example.com",
        "fay@example.com",
    }


def test_the_whitelist_does_not_override_an_unsubscribe_in_the_snapshot(workspace, newsletter):
    services.unsubscribe_record(workspace=workspace, email="fay@example.com", source="link")
    services.whitelist_add(workspace=workspace, email="fay@example.com")
    Contact.objects.filter(email="fay@example.com").update(status="active")
    assert "fay@example.com" not in snapshot_recipients(workspace, newsletter)


def test_a_soft_bounce_threshold_reached_takes_the_address_out_of_the_next_send(
    workspace, newsletter
):
    for _ in range(2):
        services.bounce_record(workspace, "ann@example.com", "soft")
    assert "ann@example.com" in snapshot_recipients(workspace, newsletter)
    services.bounce_record(workspace, "ann@example.com", "soft")
    assert "ann@example.com" not in snapshot_recipients(workspace, newsletter)


# --- sources -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "type,source",
    [
        ("hard_bounce", "bounce"),
        ("soft_bounce", "bounce"),
        ("complaint", "complaint"),
        ("manual", "manual"),
    ],
)
def test_the_source_defaults_from_the_type(workspace, type, source):
    assert services.suppression_add(workspace=workspace, email="a@b.co", type=type).source == source


def test_a_stronger_type_brings_its_source_a_weaker_one_changes_nothing(workspace):
    services.suppression_add(workspace=workspace, email="a@b.co", type="manual", source="api")
    upgraded = services.suppression_add(workspace=workspace, email="a@b.co", type="complaint")
    assert (upgraded.type, upgraded.source) == ("complaint", "complaint")
    again = services.suppression_add(
        workspace=workspace, email="a@b.co", type="manual", source="import"
    )
    assert (again.type, again.source) == ("complaint", "complaint")


def test_an_unknown_type_or_source_is_a_validation_error(workspace):
    with pytest.raises(ValidationError) as error:
        services.suppression_add(workspace=workspace, email="a@b.co", type="spam")
    assert "type" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        services.suppression_add(workspace=workspace, email="a@b.co", type="manual", source="x")
    assert "source" in error.value.message_dict


def test_the_api_records_source_api_and_filters_by_it(api, workspace):
    services.suppression_add(workspace=workspace, email="bounced@b.co", type="hard_bounce")
    body = api.post("/api/v1/suppressions", {"email": "a@b.co"}, format="json").json()
    assert body["source"] == "api"
    results = api.get("/api/v1/suppressions?source=api").json()["results"]
    assert [row["email"] for row in results] == ["a@b.co"]
    bounced = api.get("/api/v1/suppressions?source=bounce").json()["results"]
    assert [row["email"] for row in bounced] == ["bounced@b.co"]


def test_the_source_cannot_be_set_through_the_api(api):
    body = api.post(
        "/api/v1/suppressions", {"email": "a@b.co", "source": "bounce"}, format="json"
    ).json()
    assert body["source"] == "api"


def test_the_admin_records_source_manual(admin_client, workspace):
    response = admin_client.post(
        "/admin/deliverability/suppression/add/",
        {"workspace": workspace.pk, "email": "A@B.co", "type": "hard_bounce", "reason": "typo"},
    )
    assert response.status_code == 302
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.source) == ("a@b.co", "manual")


def test_search_scope_and_domain_filters(api, workspace):
    domain = SendingDomainFactory(workspace=workspace)
    services.suppression_add(workspace=workspace, email="ann@shop.io", type="manual")
    services.suppression_add(
        workspace=workspace, email="bob@example.com", type="manual", reason="Asked by Shop"
    )
    services.suppression_add(
        workspace=workspace, email="cy@example.com", type="manual", domain=domain
    )

    def emails(query):
        return sorted(
            r["email"] for r in api.get(f"/api/v1/suppressions?{query}").json()["results"]
        )

    assert emails("q=SHOP") == ["ann@shop.io", "bob@example.com"]
    assert emails("scope=global") == ["ann@shop.io", "bob@example.com"]
    assert emails("scope=domain") == ["cy@example.com"]
    assert emails(f"domain_id={domain.id}") == ["cy@example.com"]


# --- CSV import and export -----------------------------------------------------------------------


def upload(content: str | bytes, name: str = "suppressions.csv") -> SimpleUploadedFile:
    data = content.encode() if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_import_keeps_good_rows_reports_bad_ones_and_records_source_import(api, workspace):
    contact = ContactFactory(workspace=workspace, email="Hard@Example.com")
    services.suppression_add(workspace=workspace, email="weak@example.com", type="soft_bounce")
    services.suppression_add(workspace=workspace, email="strong@example.com", type="complaint")
    csv_text = (
        "Email,Type,Reason\n"
        "HARD@example.com,hard_bounce,550 no such user\n"
        "not-an-email,manual,\n"
        "plain@example.com,,\n"
        "weak@example.com,Hard bounce,upgraded\n"
        "strong@example.com,manual,stays a complaint\n"
        "\n"
        "typo@example.com,spam,\n"
        "dup@example.com,manual,first\n"
        "dup@example.com,complaint,second\n"
        ",manual,\n"
    )
    response = api.post("/api/v1/suppressions/import", {"file": upload(csv_text)})
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "rows": 9,
        "created": 3,
        "upgraded": 1,
        "unchanged": 1,
        "error_count": 3,
        "errors": [
            {"row": 3, "reason": "“not-an-email” is not an email address."},
            {
                "row": 8,
                "reason": "Unknown type “spam”: use one of hard_bounce, soft_bounce, complaint, "
                "manual.",
            },
            {"row": 11, "reason": "No email address."},
        ],
    }
    rows = {s.email: s for s in Suppression.objects.filter(workspace=workspace)}
    assert (rows["hard@example.com"].type, rows["hard@example.com"].source) == (
        "hard_bounce",
        "import",
    )
    assert rows["plain@example.com"].type == "manual"
    assert (rows["weak@example.com"].type, rows["weak@example.com"].reason) == (
        "hard_bounce",
        "upgraded",
    )
    assert (rows["strong@example.com"].type, rows["strong@example.com"].source) == (
        "complaint",
        "complaint",
    )
    assert (rows["dup@example.com"].type, rows["dup@example.com"].reason) == (
        "complaint",
        "second",
    )
    contact.refresh_from_db()
    assert contact.status == "bounced"


def test_import_without_a_header_for_one_domain_with_a_default_type(api, workspace):
    domain = SendingDomainFactory(workspace=workspace)
    ContactFactory(workspace=workspace, email="a@example.com")
    response = api.post(
        "/api/v1/suppressions/import",
        {
            "file": upload("a@example.com\nb@example.com,manual,why\n"),
            "type": "complaint",
            "domain_id": str(domain.id),
        },
    )
    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 2
    assert set(Suppression.objects.values_list("email", "type", "domain", "reason")) == {
        ("a@example.com", "complaint", domain.id, ""),
        ("b@example.com", "manual", domain.id, "why"),
    }
    assert Contact.objects.get(email="a@example.com").status == "active", "domain scope only"


def test_import_reads_semicolons_and_utf16(api, workspace):
    data = "email;type\nsemi@example.com;complaint\n".encode("utf-16")
    assert api.post("/api/v1/suppressions/import", {"file": upload(data)}).json()["created"] == 1
    assert Suppression.objects.get().type == "complaint"


@pytest.mark.parametrize(
    "body,field",
    [
        ({}, "file"),
        ({"file": upload("a@b.co\n"), "type": "spam"}, "type"),
        ({"file": upload(b"\x00\x01\x02binary")}, "file"),
        (
            {"file": upload("a@b.co\n"), "domain_id": "00000000-0000-0000-0000-000000000000"},
            "domain_id",
        ),
    ],
)
def test_bad_imports_are_400s(api, body, field):
    response = api.post("/api/v1/suppressions/import", body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Suppression.objects.exists()


def test_an_import_over_the_limit_is_a_413(api, monkeypatch):
    monkeypatch.setattr(services, "MAX_IMPORT_BYTES", 10)
    response = api.post("/api/v1/suppressions/import", {"file": upload("a@example.com\n" * 3)})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_import_writes_in_a_few_statements_not_one_per_row(
    workspace, django_assert_max_num_queries
):
    rows = "".join(f"user{n}@example.com,manual\n" for n in range(2500))
    # A few statements per thousand rows (SQLite splits an INSERT at its variable limit).
    with django_assert_max_num_queries(50):
        result = services.suppressions_import_csv(workspace=workspace, data=rows.encode())
    assert result.created == 2500
    assert Suppression.objects.count() == 2500


def test_import_into_another_workspace_never_touches_this_one(api, workspace, outsider):
    mine = services.suppression_add(workspace=workspace, email="a@example.com", type="manual")
    outsider.api.post("/api/v1/suppressions/import", {"file": upload("a@example.com,complaint\n")})
    mine.refresh_from_db()
    assert mine.type == "manual"
    assert Suppression.objects.filter(workspace=outsider.workspace).count() == 1


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_export_streams_the_filtered_suppressions_formula_safe(api, workspace, outsider):
    domain = SendingDomainFactory(workspace=workspace, domain="news.acme.io")
    services.suppression_add(
        workspace=workspace, email="a@example.com", type="complaint", reason='=HYPERLINK("x")'
    )
    services.suppression_add(
        workspace=workspace, email="b@example.com", type="manual", reason="\t=1+1", domain=domain
    )
    services.suppression_add(workspace=outsider.workspace, email="secret@x.io", type="complaint")
    response = api.get("/api/v1/suppressions/export")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = read_csv(response)
    assert rows[0] == ["email", "type", "reason", "source", "domain", "created_at"]
    body = {row[0]: row for row in rows[1:]}
    assert set(body) == {"a@example.com", "b@example.com"}
    assert body["a@example.com"][2] == '\'=HYPERLINK("x")'
    assert body["b@example.com"][2].startswith("'")
    assert body["b@example.com"][4] == "news.acme.io"
    only = read_csv(api.get("/api/v1/suppressions/export?type=complaint"))
    assert [row[0] for row in only[1:]] == ["a@example.com"]
    assert api.get("/api/v1/suppressions/export?type=nope").status_code == 400


def test_an_export_reads_back_as_an_import(api, workspace, outsider):
    for n, type in enumerate(("hard_bounce", "complaint", "manual")):
        services.suppression_add(workspace=workspace, email=f"u{n}@example.com", type=type)
    exported = b"".join(api.get("/api/v1/suppressions/export").streaming_content)
    result = outsider.api.post("/api/v1/suppressions/import", {"file": upload(exported)}).json()
    assert (result["created"], result["error_count"]) == (3, 0)
    assert set(
        Suppression.objects.filter(workspace=outsider.workspace).values_list("email", "type")
    ) == {
        ("u0@example.com", "hard_bounce"),
        ("u1@example.com", "complaint"),
        ("u2@example.com", "manual"),
    }


def test_another_workspaces_suppressions_are_404_and_never_listed(api, outsider):
    theirs = services.suppression_add(
        workspace=outsider.workspace, email="secret@x.io", type="complaint"
    )
    entry = services.whitelist_add(workspace=outsider.workspace, email="secret@x.io")
    assert api.delete(f"/api/v1/suppressions/{theirs.id}").status_code == 404
    assert api.get(f"/api/v1/suppressions/{theirs.id}").status_code == 404
    assert api.delete(f"/api/v1/suppressions/whitelist/{entry.id}").status_code == 404
    assert api.get("/api/v1/suppressions").json()["results"] == []
    assert api.get("/api/v1/suppressions?email=secret@x.io").json()["results"] == []
    assert api.get("/api/v1/suppressions/whitelist").json()["results"] == []
    assert Suppression.objects.filter(pk=theirs.pk).exists()


def test_the_whitelist_api_searches(api, workspace):
    services.whitelist_add(workspace=workspace, email="boss@acme.io", reason="CEO")
    services.whitelist_add(workspace=workspace, email="ops@acme.io")
    results = api.get("/api/v1/suppressions/whitelist?q=ceo").json()["results"]
    assert [row["email"] for row in results] == ["boss@acme.io"]


def test_import_finds_the_columns_of_a_header_in_any_order(workspace):
    data = b"Reason,E-mail,Type,Name\nmoved away,Ann@Example.com,complaint,Ann\n"
    result = services.suppressions_import_csv(workspace=workspace, data=data)
    assert (result.created, result.error_count) == (1, 0)
    assert Suppression.objects.values_list("email", "type", "reason").get() == (
        "ann@example.com",
        "complaint",
        "moved away",
    )
