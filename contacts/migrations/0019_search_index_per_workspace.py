"""The search trigram index leads with the workspace (btree_gin), on PostgreSQL only.

The index of 0007 held every workspace's contacts under one set of trigrams: a search in one
workspace read, fetched and rechecked the candidates of all of them and only then dropped the
others' rows (a second million-contact workspace doubled ``person12``'s candidates: typeahead
p95 40 → 122 ms). With the workspace as the index's first column, the index itself keeps to
the one workspace. btree_gin is a trusted extension: a database owner may create it."""

from django.db import migrations

from contacts.search import INDEX_EXPRESSION

OLD = "contact_search_trgm"
NEW = "contact_ws_search_trgm"


def per_workspace(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NEW} ON contacts_contact "
        f"USING gin (workspace_id, {INDEX_EXPRESSION} gin_trgm_ops)"
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD}")


def shared(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD} ON contacts_contact "
        f"USING gin ({INDEX_EXPRESSION} gin_trgm_ops)"
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {NEW}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0018_contact_ws_id_includes_created_at")]

    operations = [migrations.RunPython(per_workspace, shared)]
