"""A/B tests of campaigns (campaigns.ab): the test and its variants, each recipient's variant on
Message, and the ``held`` status of messages waiting for their send time or the winner."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0008_message_no_db_foreign_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="ab_variant",
            field=models.PositiveSmallIntegerField(
                blank=True,
                help_text="A/B test recipient's variant (0 = A); none: the rest, sent the winner.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="status",
            field=models.CharField(
                choices=[
                    ("queued", "Queued"),
                    ("sending", "Sending"),
                    ("sent", "Sent"),
                    ("deferred", "Deferred (will retry)"),
                    ("failed", "Failed"),
                    ("bounced", "Bounced"),
                    ("suppressed", "Suppressed"),
                    ("interrupted", "Interrupted"),
                    ("held", "Held (A/B test)"),
                ],
                default="queued",
                max_length=12,
            ),
        ),
        migrations.CreateModel(
            name="AbTest",
            fields=[
                (
                    "campaign",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="ab_test",
                        serialize=False,
                        to="campaigns.campaign",
                    ),
                ),
                (
                    "share",
                    models.PositiveSmallIntegerField(
                        default=20, help_text="Percent of the audience in the test (1–100)."
                    ),
                ),
                (
                    "criterion",
                    models.CharField(
                        choices=[
                            ("open", "Human open rate"),
                            ("click", "Human click rate"),
                            ("manual", "Manual pick"),
                        ],
                        default="open",
                        max_length=8,
                    ),
                ),
                (
                    "wait_minutes",
                    models.PositiveIntegerField(
                        default=240, help_text="How long the test runs before the winner is chosen."
                    ),
                ),
                ("decide_at", models.DateTimeField(blank=True, null=True)),
                ("winner", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("decided_by", models.CharField(blank=True, max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "indexes": [models.Index(fields=["winner", "decide_at"], name="abtest_due")],
            },
        ),
        migrations.CreateModel(
            name="AbVariant",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("position", models.PositiveSmallIntegerField(help_text="0 = A, 1 = B, …")),
                ("subject", models.CharField(blank=True, max_length=998)),
                ("from_name", models.CharField(blank=True, max_length=200)),
                ("html", models.TextField(blank=True)),
                ("text", models.TextField(blank=True)),
                ("template_id", models.UUIDField(blank=True, null=True)),
                (
                    "send_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When this variant goes out; blank: at the start.",
                        null=True,
                    ),
                ),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="ab_variants",
                        to="campaigns.campaign",
                    ),
                ),
            ],
            options={
                "ordering": ["campaign", "position"],
                "constraints": [
                    models.UniqueConstraint(fields=("campaign", "position"), name="abvariant_once")
                ],
            },
        ),
    ]
