"""The contacts table's GIN indexes on PostgreSQL (search trigrams, properties) lead with the
workspace (btree_gin, contacts 0019): a search or a segment reads one workspace's
candidates from the index instead of every workspace's, fetching and dropping the others."""

import pytest
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL indexes"),
]


def _gin_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'contacts_contact' AND indexdef LIKE %s",
            ["% USING gin %"],
        )
        return dict(cursor.fetchall())


def test_every_gin_index_of_the_contacts_leads_with_the_workspace():
    indexes = _gin_indexes()
    assert set(indexes) == {"contact_ws_search_trgm", "contact_ws_properties_gin"}
    for definition in indexes.values():
        assert "USING gin (workspace_id, " in definition


def test_the_search_and_properties_operator_classes_are_kept():
    indexes = _gin_indexes()
    assert "gin_trgm_ops" in indexes["contact_ws_search_trgm"]
    assert "(workspace_id, properties jsonb_path_ops)" in indexes["contact_ws_properties_gin"]
