"""A trigram index for contact search on PostgreSQL (contacts.search); nothing on SQLite."""

from django.db import migrations

from contacts.search import INDEX_EXPRESSION

INDEX = "contact_search_trgm"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON contacts_contact "
        f"USING gin ({INDEX_EXPRESSION} gin_trgm_ops)"
    )


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0006_imports_bulk_jobs_scoring")]

    operations = [migrations.RunPython(create_index, drop_index)]
