"""A GIN index on contact properties for PostgreSQL: equality in segment queries compiles to
containment (``properties @> '{"key": value}'``), which jsonb_path_ops serves."""

from django.db import migrations

INDEX = "contact_properties_gin"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON contacts_contact "
            "USING gin (properties jsonb_path_ops)"
        )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0007_search_trigram_index")]

    operations = [migrations.RunPython(create_index, drop_index)]
