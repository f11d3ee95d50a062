"""The properties GIN index leads with the workspace (btree_gin, created by 0019), on
PostgreSQL only.

As with the search index (0019): the index of 0008 held every workspace's properties, so a
segment's ``properties.industry = "SaaS"`` collected the matching contacts of all workspaces
into its bitmap, fetched their pages and dropped the other workspaces' rows afterwards. With a
second million-contact workspace in the table a preview count took 450 ms; reading one
workspace's candidates, 250–280 ms."""

from django.db import migrations

OLD = "contact_properties_gin"
NEW = "contact_ws_properties_gin"


def per_workspace(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {NEW} ON contacts_contact "
        "USING gin (workspace_id, properties jsonb_path_ops)"
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {OLD}")


def shared(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {OLD} ON contacts_contact "
        "USING gin (properties jsonb_path_ops)"
    )
    schema_editor.execute(f"DROP INDEX IF EXISTS {NEW}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0019_search_index_per_workspace")]

    operations = [migrations.RunPython(per_workspace, shared)]
