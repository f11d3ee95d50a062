"""django-post-office sending N personalised messages into an SMTP sink: the side-by-side run
of ``bench.sending`` (which starts it with the sink's port). Standalone:

    DJANGO_SETTINGS_MODULE=bench.postoffice_settings BENCH_SMTP_PORT=2525 \\
        DATABASE_URL=postgres://… python -m bench.postoffice [N] [--processes 2]

The messages are queued with ``post_office.mail.send_many`` (one template, rendered per
recipient on delivery, as our campaigns are) and sent with ``send_queued_mail_until_done``
(its ``send_queued_mail`` command: a pool of ``--processes`` processes per batch, each with
five threads and an SMTP connection per thread). Timed from the first ``send_many`` to the
last message handed off. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db.models import Count

HTML = """<html><head><style>p { color: #333; font-family: sans-serif }</style></head>
<body><h1>Hello {{ first_name|default:'there' }},</h1>
<p>Our {{ plan|default:'free' }} plan news for {{ company }}.</p>
<p><a href="https://example.org/news?id=1">Read the news</a> or
<a href="https://example.org/pricing">see the prices</a>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""
TEXT = """Hello {{ first_name|default:'there' }},
Our {{ plan|default:'free' }} plan news for {{ company }}.
Read the news: https://example.org/news?id=1
Unsubscribe: {{ unsubscribe_url }}"""
PLANS = ["free", "starter", "pro", "enterprise"]
QUEUE_CHUNK = 5_000


def _recipient(n: int, template) -> dict:
    return {
        "recipients": [f"person{n}@example.com"],
        "sender": "Bench <news@example.com>",
        "template": template,
        "context": {
            "first_name": f"Person{n}",
            "plan": PLANS[n % len(PLANS)],
            "company": f"Company {n % 997}",
            "unsubscribe_url": f"https://crm.example.com/u/{n:032x}",
        },
        "render_on_delivery": True,
        "headers": {"List-Unsubscribe": f"<https://crm.example.com/u/{n:032x}>"},
    }


def main() -> None:
    from post_office import mail
    from post_office.models import STATUS, Email, EmailTemplate

    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="?", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    call_command("migrate", skip_checks=True, verbosity=0)
    Email.objects.all().delete()
    template, _ = EmailTemplate.objects.update_or_create(
        name="bench",
        language="",
        defaults={"subject": "News for {{ first_name }}", "html_content": HTML, "content": TEXT},
    )
    started = time.perf_counter()
    for start in range(0, args.size, QUEUE_CHUNK):
        stop = min(start + QUEUE_CHUNK, args.size)
        mail.send_many([_recipient(n, template) for n in range(start, stop)])
    queued = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        mail.send_queued_mail_until_done(
            lockfile=str(Path(folder, "post_office")), processes=args.processes
        )
    elapsed = time.perf_counter() - started
    statuses = dict(Email.objects.values_list("status").annotate(n=Count("id")))
    sent = statuses.get(STATUS.sent, 0)
    print(
        json.dumps(
            {
                "messages": args.size,
                "processes": args.processes,
                "threads_per_process": settings.POST_OFFICE.get("THREADS_PER_PROCESS", 5),
                "batch_size": settings.POST_OFFICE["BATCH_SIZE"],
                "queue_seconds": round(queued, 2),
                "seconds": round(elapsed, 2),
                "messages_per_s": round(sent / elapsed),
                "statuses": {STATUS._fields[k]: v for k, v in statuses.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
