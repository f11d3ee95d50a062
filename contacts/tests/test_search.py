"""Free-text search (q=) over name, email, company and phone: substring, prefix, several
words, and on PostgreSQL typo-tolerant matches served by the trigram index."""

import json

import pytest
from django.db import connection

from contacts import search as contacts_search
from contacts.models import Contact
from contacts.search import SearchText, search
from contacts.tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(workspace):
    ContactFactory(
        workspace=workspace,
        email="jane.smith@acme.io",
        first_name="Jane",
        last_name="Smith",
        company="Acme Corp",
    )
    ContactFactory(
        workspace=workspace,
        email="bob@builders.org",
        first_name="Bob",
        last_name="Jones",
        phone="+44 20 7946 0018",
    )
    ContactFactory(
        workspace=workspace,
        email="carla@example.com",
        first_name="Carla",
        last_name="Smithson",
        company="Globex",
    )


def found(workspace, text):
    return set(
        search(Contact.objects.for_workspace(workspace), text).values_list("first_name", flat=True)
    )


@pytest.mark.parametrize(
    "text,expected",
    [
        ("smith", {"Jane", "Carla"}),
        ("SMI", {"Jane", "Carla"}),
        ("jane smith", {"Jane"}),
        ("acme", {"Jane"}),
        ("globex carla", {"Carla"}),
        ("7946", {"Bob"}),
        ("builders.org", {"Bob"}),
        ("", {"Jane", "Bob", "Carla"}),
        ("nobody-here", set()),
        ("100%", set()),
        ("_", set()),
    ],
)
def test_search_matches_every_word_anywhere(workspace, people, text, expected):
    assert found(workspace, text) == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="fuzzy matching needs pg_trgm")
def test_typos_still_find_on_postgresql(workspace, people):
    assert "Carla" in found(workspace, "smithsen")
    assert "Jane" in found(workspace, "acmee")


def test_search_never_crosses_workspaces(workspace, people, outsider):
    assert found(outsider.workspace, "smith") == set()
    assert outsider.contact.first_name not in found(workspace, outsider.contact.email)


def test_the_api_list_searches_with_q(api, workspace, people):
    results = api.get("/api/v1/contacts", {"q": "smith"}).json()["results"]
    assert {c["first_name"] for c in results} == {"Jane", "Carla"}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan choice is PostgreSQL's")
@pytest.mark.parametrize("text", ["smith", "SMI", "jane smith", "7946", "nobody", "smithsen"])
def test_both_plans_find_the_same_contacts(workspace, people, monkeypatch, text):
    """Walking the newest rows or collecting matches from the trigram index first: the plan
    changes, the answer does not."""
    for n in range(30):
        ContactFactory(workspace=workspace, first_name=f"Filler{n}", last_name="Smith")
    answers = []
    for dense in (1, 10**9):  # every probe dense (walk), every probe sparse (index first)
        monkeypatch.setattr(contacts_search, "DENSE_MATCHES", dense)
        monkeypatch.setattr(contacts_search, "PROBE_ROWS", 10)
        found = search(Contact.objects.for_workspace(workspace), text).order_by("-pk")
        answers.append(list(found.values_list("pk", flat=True)))
    assert answers[0] == answers[1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
@pytest.mark.parametrize(
    "text",
    ["first12 last3", "first12", "last3 acme", "t12 st3", "first12 zzz9", "12 3", "first1_ l%st3"],
)
def test_asking_the_index_for_rare_trigrams_finds_the_same_contacts(workspace, text, monkeypatch):
    """Words made of common trigrams: the index is asked for each word's rarest trigram only
    and every word is checked on what it returns; the answer equals the plain filter's."""
    for n in range(40):
        ContactFactory(
            workspace=workspace,
            email=f"person{n}@acme.io" if n % 3 else f"person{n}@example.com",
            first_name=f"First{n % 13 + 10}",
            last_name=f"Last{n % 7}",
        )
    ContactFactory(workspace=workspace, email="x@y.io", first_name="Last3", last_name="First12")
    queryset = Contact.objects.for_workspace(workspace)
    words = contacts_search._words(text)
    plain = (
        queryset.alias(search_text=SearchText())
        .filter(contacts_search._substring_condition(words))
        .order_by("-pk")
    )
    monkeypatch.setattr(contacts_search, "DENSE_MATCHES", 10**9)  # never the walk
    found = search(queryset, text).order_by("-pk")
    assert list(found.values_list("pk", flat=True)) == list(plain.values_list("pk", flat=True))
    assert found.exists() == (text not in ("first12 zzz9", "first1_ l%st3"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
def test_the_rarest_trigram_of_each_word_is_asked(workspace):
    for n in range(20):
        ContactFactory(workspace=workspace, first_name="First1", last_name=f"Last{n}")
    ContactFactory(workspace=workspace, first_name="First12", last_name="Last3")
    queryset = Contact.objects.for_workspace(workspace).alias(search_text=SearchText())
    first, last = contacts_search._rare_trigrams(queryset, ["first12", "last3"])
    assert "t12" in first  # in one row of 21, unlike fir, irs, rst, st1
    assert "fir" not in first and "las" not in last
    assert contacts_search._rare_trigrams(queryset, ["a.b", "ab"]) == [[], []]
    # one LIKE per word, asking the index for those trigrams only
    assert contacts_search._masked("person12", ["on1", "n12"]) == "on12"
    assert contacts_search._masked("first12", ["t12"]) == "t12"
    assert contacts_search._masked("a1b2c3d4", ["a1b", "c3d"]) == "a1b_c3d"


def _plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan choice is PostgreSQL's")
def test_collected_matches_are_a_constant_the_planner_counts(workspace, monkeypatch):
    """The ids collected through the trigram index reach the page's query as a constant array
    (no sub-plan hiding it), so the planner knows how many there are and, newest first, can
    walk the primary key with them as keys and stop after a page instead of sorting them all
    (on a million contacts: ``person12`` 100 → 5 ms, docs/performance.md)."""
    monkeypatch.setattr(contacts_search, "DENSE_MATCHES", 10**9)  # the index-first path
    for n in range(40):
        ContactFactory(workspace=workspace, first_name=f"Quarkly{n}")
    for n in range(60):
        ContactFactory(workspace=workspace, first_name=f"Other{n}")
    page = search(Contact.objects.for_workspace(workspace), "quarkly").order_by("-pk")[:10]
    assert len(page) == 10
    sql, _ = page.query.sql_with_params()
    assert "= ANY(string_to_array(" in sql and "ARRAY(SELECT" not in sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = json.loads(page.explain(format="json"))[0]["Plan"]
    nodes = list(_plan_nodes(plan))
    assert not any(node.get("Parent Relationship") == "InitPlan" for node in nodes)
    keyed = [n for n in nodes if "ANY ('{" in n.get("Index Cond", "") + n.get("Filter", "")]
    assert keyed, "the ids are a constant array in the plan"


@pytest.fixture
def quarks(workspace, outsider):
    """Eleven contacts called Quark among others, and an outsider called Quark."""
    made = []
    for n in range(20):
        made.append(ContactFactory(workspace=workspace, first_name="Quark" if n % 2 else "Other"))
    made.append(ContactFactory(workspace=workspace, first_name="Quark"))
    ContactFactory(workspace=outsider.workspace, first_name="Quark")
    return [contact for contact in made if contact.first_name == "Quark"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram index is PostgreSQL's")
@pytest.mark.parametrize("fuzzy", [False, True])
def test_a_page_search_collects_the_newest_matches_below_the_cursor(
    workspace, quarks, monkeypatch, fuzzy
):
    monkeypatch.setattr(contacts_search, "DENSE_MATCHES", 10**9)  # the index-first path
    newest_first = sorted((c.pk for c in quarks), reverse=True)
    queryset = Contact.objects.for_workspace(workspace)
    text = "quarx" if fuzzy else "quark"  # a typo: the fuzzy path collects its ids too
    for below in (None, newest_first[0], newest_first[4], newest_first[-1]):
        found = search(queryset, text, newest=3, below=str(below) if below else None)
        start = newest_first.index(below) + 1 if below else 0
        expected = newest_first[start : start + 3]
        assert list(found.order_by("-pk").values_list("pk", flat=True)) == expected
    everything = search(queryset, text).order_by("-pk").values_list("pk", flat=True)
    assert list(everything) == newest_first


@pytest.mark.parametrize("path_forced", [False, True])
def test_the_api_pages_and_counts_every_match_of_a_page_search(
    api, quarks, outsider, monkeypatch, path_forced
):
    from contacts import filtersets

    if path_forced:
        monkeypatch.setattr(contacts_search, "DENSE_MATCHES", 10**9)
    monkeypatch.setattr(filtersets, "MAX_PAGE_SIZE", 2)  # a page search keeps 3 ids
    seen, url, params = [], "/api/v1/contacts", {"q": "quark", "page_size": 2}
    while url:
        body = api.get(url, params).json()
        seen += [row["id"] for row in body["results"]]
        url, params = body["next"], None
    assert seen == [str(pk) for pk in sorted((c.pk for c in quarks), reverse=True)]
    counted = api.get("/api/v1/contacts", {"q": "quark", "count": "true", "page_size": 2})
    assert counted.json()["count"] == len(quarks) == 11
    assert str(outsider.contact.pk) not in seen


def test_exports_and_bulk_filters_see_every_match_of_a_search(workspace, quarks, monkeypatch):
    from django.http import QueryDict

    from contacts import filtersets

    monkeypatch.setattr(contacts_search, "DENSE_MATCHES", 10**9)
    monkeypatch.setattr(filtersets, "MAX_PAGE_SIZE", 2)
    request = type("Request", (), {"user": type("User", (), {"workspace": workspace})})()
    data = QueryDict("q=quark")
    queryset = Contact.objects.for_workspace(workspace)
    every = filtersets.ContactFilterSet(data, queryset=queryset, request=request).qs
    page = filtersets.ContactPageFilterSet(data, queryset=queryset, request=request).qs
    assert every.count() == 11
    assert page.count() == (3 if connection.vendor == "postgresql" else 11)
