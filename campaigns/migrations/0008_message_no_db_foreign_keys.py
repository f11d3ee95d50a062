"""Message's foreign keys (workspace, campaign, contact) without database-level constraints.

Why: a snapshot inserts one Message per recipient in one INSERT … SELECT. With the constraints,
PostgreSQL checks every inserted row's three references at commit, each with a
``SELECT 1 … FOR KEY SHARE`` on the referenced row, which also marks every contact's page
dirty; at a million recipients those checks cost more than the insert itself (docs/performance.md,
"Sending"). The snapshot writes ids it has just read from those tables, in the same statement,
so the references are valid by construction.

What keeps them valid afterwards: every deletion of a contact, campaign or workspace goes
through the ORM (``Model.delete()`` / ``QuerySet.delete()``), whose collector still applies
``on_delete`` — CASCADE for workspace and campaign, SET_NULL for contact. The paths, each with a
test that no orphan Message remains (campaigns/tests/test_message_references.py): contact
delete (API, dashboard, admin), bulk delete, merge (messages moved to the primary first), GDPR
erase, campaign delete, workspace delete. A new deletion path must not use raw SQL or
``_raw_delete`` on these tables without handling Messages. The indexes stay.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_message_header_id_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="campaign",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="messages",
                to="campaigns.campaign",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="contacts.contact",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="mailcrm.workspace",
            ),
        ),
    ]
