"""Keyset pages (``mailcrm.keyset``): the query shape that lets an index start at the cursor,
and pages that visit every row once, ties included."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext

from contacts.models import Contact
from contacts.tests.factories import ContactFactory
from mailcrm.keyset import InvalidCursor, encode_cursor, keyset_page

pytestmark = pytest.mark.django_db


def _sql(queryset, **options) -> str:
    with CaptureQueriesContext(connection) as captured:
        keyset_page(queryset, size=2, **options)
    return captured.captured_queries[-1]["sql"]


def _walk(queryset, **options) -> list:
    seen, cursor = [], None
    while True:
        page = keyset_page(queryset, size=2, cursor=cursor, **options)
        seen += page.rows
        if not page.next_cursor:
            return seen
        cursor = page.next_cursor


@pytest.fixture
def ties(workspace):
    return [ContactFactory(workspace=workspace, score=n % 2) for n in range(7)]


def test_a_deep_page_is_one_row_comparison_of_the_ordering_and_id(workspace, ties):
    contacts = Contact.objects.filter(workspace=workspace)
    cursor = encode_cursor([1, ties[0].pk])
    sql = _sql(contacts, field="score", descending=False, cursor=cursor)
    quote = connection.ops.quote_name
    table = quote("contacts_contact")
    row = f"({table}.{quote('score')}, {table}.{quote('id')}) > ("
    assert row in sql
    assert sql.rstrip().endswith(
        f"ORDER BY {table}.{quote('score')} ASC, {table}.{quote('id')} ASC LIMIT 3"
    )
    backwards = _sql(contacts, field="score", descending=True, cursor=cursor)
    assert f"({table}.{quote('score')}, {table}.{quote('id')}) < (" in backwards


def test_an_annotated_ordering_compares_the_expression(workspace, ties):
    contacts = Contact.objects.filter(workspace=workspace).annotate(email_ordering=Lower("email"))
    cursor = encode_cursor(["m@example.com", ties[0].pk])
    sql = _sql(contacts, field="email_ordering", descending=False, cursor=cursor)
    assert "(LOWER(" in sql and ") > (" in sql


@pytest.mark.parametrize("descending", [False, True])
def test_pages_visit_every_row_once_with_ties(workspace, ties, descending):
    contacts = Contact.objects.filter(workspace=workspace)
    seen = _walk(contacts, field="score", descending=descending)
    assert sorted(c.pk for c in seen) == sorted(c.pk for c in ties)
    keys = [(c.score, c.pk) for c in seen]
    assert keys == sorted(keys, reverse=descending)


def test_a_cursor_whose_value_does_not_fit_the_ordering_is_invalid(workspace, ties):
    cursor = encode_cursor(["not a number", ties[0].pk])
    with pytest.raises(InvalidCursor):
        keyset_page(Contact.objects.all(), field="score", cursor=cursor, size=2)
