from django.db import migrations

SCHEDULES = [
    ("mailcrm.tasks.dispatch_outbox", "Hand outbox events to webhooks and automations"),
    ("webhooks.tasks.retry_due", "Retry webhook deliveries that are due"),
]


def add_schedules(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for func, name in SCHEDULES:
        Schedule.objects.get_or_create(
            func=func,
            defaults={
                "name": name,
                "schedule_type": "I",
                "minutes": 1,
                "repeats": -1,
                "cluster": "webhooks",
            },
        )


def remove_schedules(apps, schema_editor):
    funcs = [func for func, _ in SCHEDULES]
    apps.get_model("django_q", "Schedule").objects.filter(func__in=funcs).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(add_schedules, remove_schedules)]
