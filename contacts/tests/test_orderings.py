"""Every ordering of the contacts list pages through all rows exactly once, ties included,
whatever the cursor's depth (keyset bounds, lower(email) for ``ordering=email``)."""

import pytest

from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

ORDERINGS = ["created_at", "updated_at", "email", "first_name", "last_name", "score"]


def _walk(api, url: str) -> list[str]:
    seen = []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [row["email"] for row in body["results"]]
        url = body["next"]
    return seen


@pytest.fixture
def people(workspace):
    # Repeated names and scores: pages must break ties on id, not skip or repeat rows.
    return [
        ContactFactory(
            workspace=workspace,
            email=email,
            first_name=["Ann", "Bob", "ann"][n % 3],
            last_name=["Smith", "Jones"][n % 2],
            score=n % 4,
        )
        for n, email in enumerate(
            ["b@example.com", "A@example.com", "c@example.com", "Bz@example.com", "a2@x.org"]
            + [f"p{n}@example.com" for n in range(7)]
        )
    ]


@pytest.mark.parametrize("ordering", ORDERINGS + [f"-{name}" for name in ORDERINGS])
def test_each_ordering_pages_through_every_contact_once(api, people, ordering):
    seen = _walk(api, f"/api/v1/contacts?page_size=2&ordering={ordering}")
    assert sorted(seen) == sorted(contact.email for contact in people)


def test_ordering_by_email_ignores_case(api, people):
    seen = _walk(api, "/api/v1/contacts?page_size=3&ordering=email")
    # Case-sensitive, "A…" and "Bz…" would come before every lower-case address.
    order = [seen.index(email) for email in ("A@example.com", "b@example.com", "Bz@example.com")]
    assert order == sorted(order)
    assert seen.index("Bz@example.com") < seen.index("c@example.com")
    backwards = _walk(api, "/api/v1/contacts?page_size=3&ordering=-email")
    assert backwards == list(reversed(seen))


def test_a_cursor_of_another_ordering_is_refused_or_harmless(api, people):
    first = api.get("/api/v1/contacts?page_size=2&ordering=email").json()
    cursor = first["next"].split("cursor=")[1]
    response = api.get(f"/api/v1/contacts?page_size=2&ordering=score&cursor={cursor}")
    assert response.status_code in (200, 400)


def test_another_workspace_is_never_in_any_ordering(api, people, outsider):
    for ordering in ORDERINGS:
        assert outsider.contact.email not in _walk(api, f"/api/v1/contacts?ordering={ordering}")
