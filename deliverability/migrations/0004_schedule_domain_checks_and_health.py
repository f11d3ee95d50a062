from django.db import migrations

SCHEDULES = [
    # func, name, schedule type (I = every `minutes`, D = daily), minutes
    (
        "deliverability.domains.verify_due_domains",
        "Re-verify sending and tracking domains",
        "I",
        60,
    ),
    ("deliverability.health.snapshot_all", "Snapshot every workspace's health score", "D", None),
]


def add_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for func, name, schedule_type, minutes in SCHEDULES:
        Schedule.objects.get_or_create(
            func=func,
            defaults={
                "name": name,
                "schedule_type": schedule_type,
                "minutes": minutes,
                "repeats": -1,
            },
        )


def remove_schedules(apps, schema_editor):
    funcs = [func for func, *_ in SCHEDULES]
    apps.get_model("django_q", "Schedule").objects.filter(func__in=funcs).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("deliverability", "0003_domains_bounces_validation_health"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(add_schedules, remove_schedules)]
