"""The contact's index on messages only for direct sends; campaign messages found by contact
through the uniqueness index, which now leads with the contact.

Why: a campaign snapshot writes every index of the table once per recipient, and the contact
index cost a 1,000,000-recipient snapshot 0.75-1.15 s on top of the uniqueness index, which
held the same (campaign, contact) pairs. Lookups by contact (merge, erasure, export, the
contact's engagement, and SET_NULL on deletion: Message.contact's ``forget_contact``) name
both kinds of message (``campaigns.models.to_contacts``) so each reads its partial index.
"""

from django.db import migrations, models

import campaigns.models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0013_message_ws_direct_index"),
        ("contacts", "0017_contact_ordering_and_archived_indexes"),
        ("mailcrm", "0008_event_email_index"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="message",
            name="message_once_per_campaign_contact",
        ),
        migrations.AlterField(
            model_name="message",
            name="contact",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=campaigns.models.forget_contact,
                related_name="+",
                to="contacts.contact",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("kind", "campaign"), _negated=True),
                fields=["contact"],
                name="message_direct_contact",
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "campaign")),
                fields=("contact", "campaign"),
                name="message_once_per_campaign_contact",
            ),
        ),
    ]
