"""The contacts' GIN indexes lead with the workspace (btree_gin), on PostgreSQL only.

The indexes of 0007 (search trigrams) and 0008 (properties) held every workspace's contacts
under one set of keys: a search, or a segment's property condition, collected the candidates
of all workspaces, fetched their rows and only then dropped the other workspaces'. With a
second million-contact workspace in the table, typeahead's p95 went from 40 to 122 ms and a
properties preview count from ≈ 260 to 450 ms; with the workspace as the first column the
index itself keeps to one workspace (docs/performance.md). btree_gin is a trusted extension:
a database owner may create it."""

from django.db import migrations

from contacts.search import INDEX_EXPRESSION

# (the index over every workspace, the index per workspace, the indexed columns after it)
INDEXES = [
    ("contact_search_trgm", "contact_ws_search_trgm", f"{INDEX_EXPRESSION} gin_trgm_ops"),
    ("contact_properties_gin", "contact_ws_properties_gin", "properties jsonb_path_ops"),
]


def per_workspace(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    for shared_name, own_name, columns in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {own_name} ON contacts_contact "
            f"USING gin (workspace_id, {columns})"
        )
        schema_editor.execute(f"DROP INDEX IF EXISTS {shared_name}")


def shared(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for shared_name, own_name, columns in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {shared_name} ON contacts_contact USING gin ({columns})"
        )
        schema_editor.execute(f"DROP INDEX IF EXISTS {own_name}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0018_contact_ws_id_includes_created_at")]

    operations = [migrations.RunPython(per_workspace, shared)]
