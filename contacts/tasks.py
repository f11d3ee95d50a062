"""django-q2 entry points for the contacts app: thin, safe to run twice."""

from __future__ import annotations

from contacts import segmentation
from contacts.models import Segment
from mailcrm.models import Workspace


def refresh_segment(segment_id: str) -> int | None:
    segment = Segment.objects.select_related("workspace").filter(pk=segment_id).first()
    if segment is None:
        return None
    return segmentation.segment_refresh(segment=segment).count


def evaluate_changed_contacts(workspace_id: str) -> int:
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    return segmentation.evaluate_changed_contacts(workspace)


def run_import(job_id: str) -> str | None:
    """A CSV import; a rerun of a finished job does nothing."""
    from contacts.imports import import_run

    job = import_run(job_id)
    return job.status if job is not None else None


def refresh_all_segments() -> int:
    """Scheduled: queries with relative dates (``-30d``) drift as time passes."""
    return sum(segmentation.refresh_workspace_segments(ws) for ws in Workspace.objects.all())


def recompute_scores(workspace_id: str) -> int:
    from contacts.scoring import scores_recompute

    workspace = Workspace.objects.filter(pk=workspace_id).first()
    return scores_recompute(workspace) if workspace is not None else 0


def run_bulk_job(job_id: str) -> str | None:
    from contacts.bulk import bulk_job_run

    job = bulk_job_run(job_id)
    return job.status if job is not None else None


def engagement_hygiene() -> dict[str, int]:
    """Scheduled daily: score decay and sunsetting in every workspace (contacts.hygiene)."""
    from contacts.hygiene import engagement_hygiene as run

    totals = {"decayed": 0, "sunset": 0, "unsunset": 0, "suppressed": 0}
    for workspace in Workspace.objects.all():
        for name, value in run(workspace)._asdict().items():
            totals[name] += value
    return totals
