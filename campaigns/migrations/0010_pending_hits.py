# The queue of tracking hits of the embedded mode (campaigns.hits): no foreign keys, so
# queueing a hit is one cheap INSERT.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0009_ab_tests"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingHit",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        help_text="The id of the event it becomes.",
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("kind", models.CharField(max_length=16)),
                ("message_id", models.UUIDField()),
                ("link_id", models.BigIntegerField(blank=True, null=True)),
                ("method", models.CharField(max_length=8)),
                ("user_agent", models.CharField(blank=True, max_length=500)),
                ("occurred_at", models.DateTimeField()),
            ],
        ),
    ]
