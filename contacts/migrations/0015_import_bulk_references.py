"""Faster bulk imports: a contact records the import that created it (its timeline entry is
derived from that instead of a row per contact), and the references an import writes in bulk
(contact -> workspace, tag/list/company links) lose their database constraints, which cost
every inserted row a lookup at commit. Deletes go through the ORM, which removes the rows
that point at what it deletes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0014_engagement_hygiene"),
        ("mailcrm", "0004_workspace_settings_invitation"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="source_import",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="contacts.importjob",
            ),
        ),
        migrations.AlterField(
            model_name="companyrole",
            name="company",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="contact_roles",
                to="contacts.company",
            ),
        ),
        migrations.AlterField(
            model_name="companyrole",
            name="contact",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="company_roles",
                to="contacts.contact",
            ),
        ),
        migrations.AlterField(
            model_name="contact",
            name="workspace",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="mailcrm.workspace",
            ),
        ),
        migrations.AlterField(
            model_name="contacttag",
            name="contact",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="contacts.contact",
            ),
        ),
        migrations.AlterField(
            model_name="contacttag",
            name="tag",
            field=models.ForeignKey(
                db_constraint=False, on_delete=django.db.models.deletion.CASCADE, to="contacts.tag"
            ),
        ),
        migrations.AlterField(
            model_name="listmembership",
            name="contact",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="contacts.contact",
            ),
        ),
        migrations.AlterField(
            model_name="listmembership",
            name="contact_list",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                to="contacts.contactlist",
            ),
        ),
    ]
